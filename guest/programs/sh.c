/* /bin/sh of the test guest: a deliberately tiny interactive shell.  One
 * command per line, words split on blanks (double quotes group), builtins
 * cd/exit/poweroff/echo/cat/ls, everything else is exec'd from /bin. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_LINE 1024
#define MAX_WORDS 64

static int split(char *line, char **w)
{
    int n = 0;
    char *p = line;
    while (*p && n < MAX_WORDS) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        char *out = p;
        w[n++] = out;
        int quoted = 0;
        while (*p && (quoted || (*p != ' ' && *p != '\t'))) {
            if (*p == '"') {
                quoted = !quoted;
                p++;
                continue;
            }
            *out++ = *p++;
        }
        if (*p)
            p++;
        *out = '\0';
    }
    w[n] = NULL;
    return n;
}

static int do_cat(int argc, char **argv)
{
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) {
            fprintf(stderr, "cat: %s: %s\n", argv[i], strerror(errno));
            rc = 1;
            continue;
        }
        char buf[4096];
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0)
            fwrite(buf, 1, (size_t)n, stdout);
        close(fd);
    }
    fflush(stdout);
    return rc;
}

static int do_ls(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "ls: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            printf("%s%s\n", e->d_name, e->d_type == DT_DIR ? "/" : "");
    }
    closedir(d);
    return 0;
}

static int run_external(char **argv)
{
    char path[256];
    if (strchr(argv[0], '/'))
        snprintf(path, sizeof path, "%s", argv[0]);
    else
        snprintf(path, sizeof path, "/bin/%s", argv[0]);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        execv(path, argv);
        fprintf(stderr, "sh: %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return 1;
    }
    if (WIFSIGNALED(st)) {
        printf("sh: %s: killed by signal %d\n", argv[0], WTERMSIG(st));
        return 128 + WTERMSIG(st);
    }
    return WEXITSTATUS(st);
}

int main(void)
{
    char line[MAX_LINE];
    char *w[MAX_WORDS + 1];
    int status = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (;;) {
        fputs("quail# ", stdout);
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin))
            break;
        line[strcspn(line, "\r\n")] = '\0';
        int n = split(line, w);
        if (n == 0 || w[0][0] == '#')
            continue;
        if (strcmp(w[0], "exit") == 0) {
            return n > 1 ? atoi(w[1]) : status;
        } else if (strcmp(w[0], "poweroff") == 0) {
            sync();
            reboot(RB_POWER_OFF);
            perror("poweroff");
            status = 1;
        } else if (strcmp(w[0], "cd") == 0) {
            status = chdir(n > 1 ? w[1] : "/") < 0;
            if (status)
                perror("cd");
        } else if (strcmp(w[0], "echo") == 0) {
            for (int i = 1; i < n; i++)
                printf("%s%s", w[i], i + 1 < n ? " " : "");
            printf("\n");
            status = 0;
        } else if (strcmp(w[0], "cat") == 0) {
            status = do_cat(n, w);
        } else if (strcmp(w[0], "ls") == 0) {
            status = do_ls(n, w);
        } else {
            status = run_external(w);
        }
    }
    return status;
}
