/*
 * dockyard-init: the PID 1 of containers run with --init.
 *
 * A process that is PID 1 in its namespace gets no default signal handlers and
 * inherits every orphan. This one starts the command as its child, forwards the
 * signals a container is sent (docker stop, kill, ^C over a TTY) to it, reaps
 * every zombie, and exits with the child's status (128+signal if it was killed),
 * as tini and docker-init do. Built static so it runs in any image:
 *     gcc -static -Os -o dockyard-init dockyard-init.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGTSTP,
                                SIGTTIN, SIGTTOU, SIGALRM, SIGPIPE};

int main(int argc, char **argv) {
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "--") == 0)
        first = 2;
    if (first >= argc) {
        fprintf(stderr, "usage: dockyard-init [--] command [args...]\n");
        return 2;
    }

    sigset_t all, old;
    sigemptyset(&all);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaddset(&all, forwarded[i]);
    sigaddset(&all, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &all, &old) != 0) {
        perror("dockyard-init: sigprocmask");
        return 1;
    }

    pid_t child = fork();
    if (child < 0) {
        perror("dockyard-init: fork");
        return 1;
    }
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        /* Own process group, in the foreground of the terminal if there is one, so ^C reaches it. */
        setpgid(0, 0);
        if (isatty(STDIN_FILENO)) {
            signal(SIGTTOU, SIG_IGN);
            tcsetpgrp(STDIN_FILENO, getpid());
            signal(SIGTTOU, SIG_DFL);
        }
        execvp(argv[first], &argv[first]);
        fprintf(stderr, "dockyard-init: exec %s: %s\n", argv[first], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    setpgid(child, child);

    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&all, &info);
        if (sig < 0) {
            if (errno == EINTR)
                continue;
            perror("dockyard-init: sigwaitinfo");
            return 1;
        }
        if (sig != SIGCHLD) {
            kill(child, sig);
            continue;
        }
        for (;;) {
            int status;
            pid_t pid = waitpid(-1, &status, WNOHANG);
            if (pid <= 0)
                break;
            if (pid != child)
                continue; /* an orphan: reaped, nothing else to do */
            /* Returning ends the namespace: the kernel kills whatever is left in it. */
            if (WIFEXITED(status))
                return WEXITSTATUS(status);
            return 128 + WTERMSIG(status);
        }
    }
}
