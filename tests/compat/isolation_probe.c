/*
 * isolation_probe: try one escape and say how it ended, for tests/compat/test_isolation_escape.py.
 * Prints "ok" (exit 0) when the attempt succeeded, else the errno name (exit 1).
 * Every attempt is harmless when it succeeds (see the test for why).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *errname(int e) {
    switch (e) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOSYS: return "ENOSYS";
    case EINVAL: return "EINVAL";
    case ENOEXEC: return "ENOEXEC";
    case ENOENT: return "ENOENT";
    case EROFS: return "EROFS";
    case EBADF: return "EBADF";
    case ESRCH: return "ESRCH";
    case EFAULT: return "EFAULT";
    default: return strerror(e);
    }
}

static int report(long ret) {
    if (ret >= 0) {
        puts("ok");
        return 0;
    }
    puts(errname(errno));
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: isolation_probe ATTEMPT [ARGS]\n");
        return 2;
    }
    const char *what = argv[1];
    if (!strcmp(what, "mount")) {
        mkdir("/tmp/probe-mnt", 0755);
        return report(mount("none", "/tmp/probe-mnt", "tmpfs", 0, NULL));
    }
    if (!strcmp(what, "unshare-mount"))
        return report(unshare(CLONE_NEWNS));
    if (!strcmp(what, "unshare-user"))
        return report(unshare(CLONE_NEWUSER));
    if (!strcmp(what, "clone-newnet")) {
        long pid = syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, NULL, NULL, NULL, 0);
        if (pid == 0)
            _exit(0);
        if (pid > 0)
            waitpid((pid_t)pid, NULL, 0);
        return report(pid);
    }
    if (!strcmp(what, "setns")) { /* join the namespace of PID 1: with --pid host, the host's */
        int fd = open("/proc/1/ns/mnt", O_RDONLY);
        if (fd < 0)
            return report(fd);
        return report(setns(fd, 0));
    }
    if (!strcmp(what, "ptrace") && argc > 2) { /* attach to a host process, detach at once */
        pid_t pid = (pid_t)atoi(argv[2]);
        long r = ptrace(PTRACE_SEIZE, pid, NULL, NULL);
        if (r == 0)
            ptrace(PTRACE_DETACH, pid, NULL, NULL);
        return report(r);
    }
    if (!strcmp(what, "init_module")) { /* a module that is not one: the kernel can only refuse it */
        static char junk[64] = "not a module";
        return report(syscall(SYS_init_module, junk, sizeof junk, ""));
    }
    if (!strcmp(what, "keyctl")) /* KEYCTL_GET_KEYRING_ID of the session keyring */
        return report(syscall(SYS_keyctl, 0, -3, 0));
    if (!strcmp(what, "sethostname")) {
        char name[65] = {0};
        gethostname(name, sizeof name - 1);
        return report(sethostname(name, strlen(name))); /* the same name: nothing changes if it works */
    }
    if (!strcmp(what, "settime")) { /* the clock set to itself, to within a syscall */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return report(clock_settime(CLOCK_REALTIME, &ts));
    }
    if (!strcmp(what, "rawblock") && argc > 3) { /* read the first sector of a host block device */
        unlink("/tmp/probe-blk");
        if (mknod("/tmp/probe-blk", S_IFBLK | 0600, makedev(atoi(argv[2]), atoi(argv[3]))) < 0)
            return report(-1);
        int fd = open("/tmp/probe-blk", O_RDONLY);
        if (fd < 0)
            return report(fd);
        char buf[512];
        return report(read(fd, buf, sizeof buf));
    }
    if (!strcmp(what, "open_by_handle")) { /* the "shocker" escape: open an inode by a forged handle */
        struct {
            struct file_handle fh;
            unsigned char bytes[8];
        } h;
        memset(&h, 0, sizeof h);
        h.fh.handle_bytes = sizeof h.bytes;
        h.fh.handle_type = 1; /* FILEID_INO32_GEN: inode 0, generation 0 - nothing real */
        int root = open("/", O_RDONLY | O_DIRECTORY);
        return report(open_by_handle_at(root, &h.fh, O_RDONLY));
    }
    if (!strcmp(what, "read") && argc > 2) { /* read a file: prints ok only if bytes came back */
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0)
            return report(fd);
        char buf[16];
        long n = read(fd, buf, sizeof buf);
        if (n == 0) {
            puts("EMPTY");
            return 1;
        }
        return report(n);
    }
    fprintf(stderr, "isolation_probe: unknown attempt %s\n", what);
    return 2;
}
