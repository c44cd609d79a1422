/* What a hostile command in a snapshot would try, one system call at a time (tests/test_sandbox_escapes.py).
 *
 * Built statically by the test and copied into the test root as /bin/probe. Each subcommand prints
 * one line: what it reached, or the system call that was refused and why. Exit status 0 means the
 * escape worked.
 *
 *   probe chroot-escape HOSTPATH   chroot into a subdirectory, climb out with "..", chroot there:
 *                                  does HOSTPATH (a path on the host) exist from there?
 *   probe handle-edit TYPE HEX NAME   open a directory by its file handle (open_by_handle_at, as in
 *                                  the "shocker" escape), lift its subvolume's read-only flag,
 *                                  create NAME in it, set the flag back
 *   probe readonly PATH on|off     set or clear a btrfs subvolume's read-only flag
 *   probe init-module              load a (bogus) kernel module: refused before it is even read
 *   probe pty                      open a new pseudo-terminal pair, as apt or script(1) do
 *   probe fibmap PATH              ask where PATH's first block is on the disk (FIBMAP, which needs
 *                                  CAP_SYS_RAWIO before the filesystem is even asked)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int refused(const char *what) {
    printf("%s: %s\n", what, strerror(errno));
    return 1;
}

static int set_readonly(int fd, int readonly, int *was) {
    __u64 flags;
    if (ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags) < 0)
        return refused("BTRFS_IOC_SUBVOL_GETFLAGS");
    if (was)
        *was = (flags & BTRFS_SUBVOL_RDONLY) != 0;
    flags = readonly ? flags | BTRFS_SUBVOL_RDONLY : flags & ~(__u64)BTRFS_SUBVOL_RDONLY;
    if (ioctl(fd, BTRFS_IOC_SUBVOL_SETFLAGS, &flags) < 0)
        return refused("BTRFS_IOC_SUBVOL_SETFLAGS");
    return 0;
}

static int chroot_escape(const char *host_path) {
    mkdir("/.probe-escape", 0700);
    if (chroot("/.probe-escape") < 0)
        return refused("chroot");
    for (int i = 0; i < 64; i++)
        if (chdir("..") < 0)
            return refused("chdir");
    if (chroot(".") < 0)
        return refused("chroot .");
    if (access(host_path, F_OK) == 0) {
        printf("escaped: %s is there\n", host_path);
        return 0;
    }
    printf("stayed inside: %s\n", strerror(errno));
    return 1;
}

static int handle_edit(const char *type, const char *hex, const char *name) {
    size_t size = strlen(hex) / 2;
    struct file_handle *handle = calloc(1, sizeof *handle + size);
    handle->handle_bytes = size;
    handle->handle_type = atoi(type);
    for (size_t i = 0; i < size; i++)
        sscanf(hex + 2 * i, "%2hhx", &handle->f_handle[i]);
    int mount_fd = open("/", O_RDONLY | O_DIRECTORY);
    int dir = open_by_handle_at(mount_fd, handle, O_RDONLY | O_DIRECTORY);
    if (dir < 0)
        return refused("open_by_handle_at");
    int was;
    if (set_readonly(dir, 0, &was))
        return 1;
    int fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return refused("openat");
    if (write(fd, "escaped\n", 8) != 8)
        return refused("write");
    close(fd);
    if (was && set_readonly(dir, 1, NULL))
        return 1;
    printf("edited %s through its handle%s\n", name, was ? " (read-only again)" : "");
    return 0;
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "chroot-escape") && argc == 3)
        return chroot_escape(argv[2]);
    if (!strcmp(what, "handle-edit") && argc == 5)
        return handle_edit(argv[2], argv[3], argv[4]);
    if (!strcmp(what, "readonly") && argc == 4) {
        int fd = open(argv[2], O_RDONLY | O_DIRECTORY);
        if (fd < 0)
            return refused("open");
        if (set_readonly(fd, !strcmp(argv[3], "on"), NULL))
            return 1;
        printf("read-only %s\n", argv[3]);
        return 0;
    }
    if (!strcmp(what, "init-module")) {
        static char image[64];
        if (syscall(SYS_init_module, image, sizeof image, "") < 0)
            return refused("init_module");
        printf("loaded\n");
        return 0;
    }
    if (!strcmp(what, "pty")) {
        int master = posix_openpt(O_RDWR | O_NOCTTY);
        if (master < 0)
            return refused("posix_openpt");
        if (grantpt(master) < 0 || unlockpt(master) < 0)
            return refused("grantpt");
        const char *name = ptsname(master);
        if (name == NULL || open(name, O_RDWR | O_NOCTTY) < 0)
            return refused("open the terminal");
        printf("terminal %s\n", name);
        return 0;
    }
    if (!strcmp(what, "fibmap") && argc == 3) {
        int fd = open(argv[2], O_RDONLY), block = 0;
        if (fd < 0)
            return refused("open");
        if (ioctl(fd, FIBMAP, &block) < 0 && errno == EPERM)
            return refused("FIBMAP");
        printf("FIBMAP allowed\n");  /* whether the filesystem then knows (btrfs does not) */
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of sandbox_probe.c\n");
    return 2;
}
