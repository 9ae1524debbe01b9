/*
 * shctl-helper: the one program of shctl's helper image (see docs/stack.md, "The helper image").
 *
 * No libc: raw Linux system calls for x86_64 and aarch64, its own _start. Built by
 * packages/core/scripts/build-helper.sh into a static binary of a few KB, which shctl imports into
 * the engine as an image of one file, so helper containers never need a registry.
 *
 *   sleep                block forever (the container's StopSignal is SIGKILL)
 *   connect IP PORT      connect to an IPv4/IPv6 literal, then relay stdin/stdout <-> the socket;
 *                        stderr gets "connected" or one failure line (refused, unreachable, timeout,
 *                        error N), and the exit status is the errno on failure
 *   connect              the same, reading "IP PORT\n" from stdin first
 *   chown UID:GID PATH   set the owner without following a symlink
 *   chmod OCTAL PATH     set the permission bits
 *   rmtree PATH          remove everything inside PATH (never following symlinks), keep PATH
 *   cat PATH             copy a file to stdout
 *   mkdir PATH UID:GID OCTAL
 *                        make the directory PATH (an absolute path) and its missing parents (root,
 *                        0755), then give PATH this owner and mode; refuses a symbolic link anywhere
 *                        on the path (a node's host root is mounted at a prefix: a link would lead
 *                        elsewhere)
 *   purge PATH           remove the directory PATH and everything in it (never following symlinks;
 *                        refuses a symbolic link on the path); a missing PATH is not an error
 */

typedef unsigned long size_t;
typedef long ssize_t;
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#if defined(__x86_64__)
enum {
  SYS_read = 0, SYS_write = 1, SYS_close = 3, SYS_lseek = 8, SYS_socket = 41, SYS_connect = 42,
  SYS_shutdown = 48, SYS_getsockopt = 55, SYS_fcntl = 72, SYS_getdents64 = 217, SYS_exit_group = 231,
  SYS_openat = 257, SYS_mkdirat = 258, SYS_fchownat = 260, SYS_unlinkat = 263, SYS_fchmodat = 268,
  SYS_ppoll = 271, SYS_fchmod = 91,
};
#define O_DIRECTORY 0200000
#define O_NOFOLLOW 0400000
__asm__(".text\n.global _start\n_start:\n xor %rbp,%rbp\n mov %rsp,%rdi\n and $-16,%rsp\n call start_c\n hlt\n");

static long sys6(long n, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
enum {
  SYS_getdents64 = 61, SYS_read = 63, SYS_write = 64, SYS_close = 57, SYS_lseek = 62, SYS_socket = 198,
  SYS_connect = 203, SYS_shutdown = 210, SYS_getsockopt = 209, SYS_fcntl = 25, SYS_exit_group = 94,
  SYS_openat = 56, SYS_mkdirat = 34, SYS_fchownat = 54, SYS_unlinkat = 35, SYS_fchmodat = 53,
  SYS_ppoll = 73, SYS_fchmod = 52,
};
#define O_DIRECTORY 040000
#define O_NOFOLLOW 0100000
__asm__(".text\n.global _start\n_start:\n mov x29, #0\n mov x30, #0\n mov x0, sp\n bl start_c\n brk #0\n");

static long sys6(long n, long a, long b, long c, long d, long e, long f) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
}
#else
#error "shctl-helper supports x86_64 and aarch64"
#endif

#define sys3(n, a, b, c) sys6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define AT_FDCWD (-100)
#define AT_SYMLINK_NOFOLLOW 0x100
#define AT_REMOVEDIR 0x200
#define O_CLOEXEC 02000000
#define O_NONBLOCK 04000
#define POLLIN 1
#define POLLOUT 4
#define POLLERR 8
#define POLLHUP 0x10
#define ENOENT 2
#define EINTR 4
#define EAGAIN 11
#define EEXIST 17
#define ENOTDIR 20
#define EISDIR 21
#define ELOOP 40
#define ENETUNREACH 101
#define ETIMEDOUT 110
#define ECONNREFUSED 111
#define EHOSTUNREACH 113
#define EINPROGRESS 115

struct pollfd { int fd; short events; short revents; };
struct timespec { long sec; long nsec; };
struct dirent64 { u64 ino; long off; u16 reclen; u8 type; char name[]; };

/* The compiler may emit calls to these even without a libc. */
void *memset(void *d, int c, size_t n) {
  u8 *p = d;
  while (n--) *p++ = (u8)c;
  return d;
}
void *memcpy(void *d, const void *s, size_t n) {
  u8 *p = d;
  const u8 *q = s;
  while (n--) *p++ = *q++;
  return d;
}

static __attribute__((noreturn)) void quit(int code) {
  for (;;) sys3(SYS_exit_group, code, 0, 0);
}

static size_t slen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

static int seq(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

/* Writes all of buf; 0 on success. */
static int write_all(int fd, const void *buf, size_t n) {
  const u8 *p = buf;
  while (n > 0) {
    long w = sys3(SYS_write, fd, p, n);
    if (w == -EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void say(const char *s) { write_all(2, s, slen(s)); }

static char *fmt_num(char *end, unsigned long v) {
  *--end = 0;
  do *--end = (char)('0' + v % 10); while (v /= 10);
  return end;
}

/* "<what> <path>: error <errno>\n" on stderr. */
static void fail_line(const char *what, const char *path, long err) {
  char num[24];
  say(what);
  say(" ");
  say(path);
  say(": error ");
  say(fmt_num(num + sizeof num, (unsigned long)-err));
  say("\n");
}

static int parse_uint(const char *s, int base, unsigned long max, unsigned long *out) {
  unsigned long v = 0;
  if (!*s) return -1;
  for (; *s; s++) {
    int d = *s - '0';
    if (d < 0 || d >= base) return -1;
    v = v * (unsigned long)base + (unsigned long)d;
    if (v > max) return -1;
  }
  *out = v;
  return 0;
}

static int parse_ipv4(const char *s, u8 out[4]) {
  for (int i = 0; i < 4; i++) {
    unsigned v = 0, digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 4) v = v * 10 + (unsigned)(*s++ - '0'), digits++;
    if (digits == 0 || digits > 3 || v > 255) return -1;
    out[i] = (u8)v;
    if (i < 3 && *s++ != '.') return -1;
  }
  return *s ? -1 : 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* An IPv6 literal: hex groups, one "::", optionally a dotted IPv4 tail. No scope ids. */
static int parse_ipv6(const char *s, u8 out[16]) {
  u16 head[8], tail[8];
  int nh = 0, nt = 0, gap = 0;
  if (s[0] == ':' && s[1] == ':') gap = 1, s += 2;
  while (*s) {
    const char *start = s;
    unsigned v = 0;
    int d, digits = 0;
    while ((d = hexval(*s)) >= 0 && digits < 5) v = v * 16 + (unsigned)d, s++, digits++;
    if (*s == '.') {
      u8 v4[4];
      if (parse_ipv4(start, v4) < 0 || nh + nt > 6) return -1;
      u16 *g = gap ? tail : head;
      int *n = gap ? &nt : &nh;
      g[(*n)++] = (u16)(v4[0] << 8 | v4[1]);
      g[(*n)++] = (u16)(v4[2] << 8 | v4[3]);
      s = start + slen(start);
      break;
    }
    if (digits == 0 || digits > 4 || nh + nt >= 8) return -1;
    if (gap) tail[nt++] = (u16)v; else head[nh++] = (u16)v;
    if (!*s) break;
    if (*s++ != ':') return -1;
    if (*s == ':') {
      if (gap) return -1;
      gap = 1, s++;
    } else if (!*s) return -1;
  }
  if (gap ? nh + nt > 7 : nh != 8) return -1;
  memset(out, 0, 16);
  for (int i = 0; i < nh; i++) out[2 * i] = (u8)(head[i] >> 8), out[2 * i + 1] = (u8)head[i];
  for (int i = 0; i < nt; i++) {
    int j = 8 - nt + i;
    out[2 * j] = (u8)(tail[i] >> 8), out[2 * j + 1] = (u8)tail[i];
  }
  return 0;
}

/* Fills a sockaddr_in or sockaddr_in6 (as bytes); returns its length, or -1. */
static int make_addr(const char *ip, const char *port_s, u8 sa[28]) {
  unsigned long port;
  if (parse_uint(port_s, 10, 65535, &port) < 0 || port == 0) return -1;
  memset(sa, 0, 28);
  sa[2] = (u8)(port >> 8), sa[3] = (u8)port;
  if (parse_ipv4(ip, sa + 4) == 0) return sa[0] = 2, 16;      /* AF_INET */
  if (parse_ipv6(ip, sa + 8) == 0) return sa[0] = 10, 28;     /* AF_INET6 */
  return -1;
}

static __attribute__((noreturn)) void connect_failed(long err) {
  char num[24];
  if (err == ECONNREFUSED) say("refused\n");
  else if (err == EHOSTUNREACH || err == ENETUNREACH) say("unreachable\n");
  else if (err == ETIMEDOUT) say("timeout\n");
  else say("error "), say(fmt_num(num + sizeof num, (unsigned long)err)), say("\n");
  quit(err > 0 && err < 256 ? (int)err : 1);
}

/* A non-blocking connect that waits at most 3 s; returns the connected socket or exits. */
static int open_connection(u8 *sa, int len) {
  int fd = (int)sys3(SYS_socket, sa[0], 1 | O_NONBLOCK | O_CLOEXEC, 0); /* SOCK_STREAM */
  if (fd < 0) connect_failed(-fd);
  long r = sys3(SYS_connect, fd, sa, len);
  if (r == -EINPROGRESS) {
    struct pollfd p = {fd, POLLOUT, 0};
    struct timespec t = {3, 0};
    do r = sys6(SYS_ppoll, (long)&p, 1, (long)&t, 0, 8, 0); while (r == -EINTR);
    if (r == 0) connect_failed(ETIMEDOUT);
    int err = 0, elen = sizeof err;
    sys6(SYS_getsockopt, fd, 1, 4, (long)&err, (long)&elen, 0); /* SOL_SOCKET, SO_ERROR */
    r = -err;
  }
  if (r < 0) connect_failed(-r);
  return fd;
}

/* Relays stdin -> socket (buffered, the socket is non-blocking) and socket -> stdout. */
static __attribute__((noreturn)) void relay(int fd) {
  static u8 in[65536], out[65536];
  size_t in_len = 0, in_off = 0;
  int stdin_open = 1, shut = 0;
  for (;;) {
    if (!stdin_open && in_len == 0 && !shut) sys3(SYS_shutdown, fd, 1, 0), shut = 1; /* SHUT_WR */
    struct pollfd p[2] = {{stdin_open && in_len == 0 ? 0 : -1, POLLIN, 0},
                          {fd, (short)(POLLIN | (in_len ? POLLOUT : 0)), 0}};
    long r = sys6(SYS_ppoll, (long)p, 2, 0, 0, 8, 0);
    if (r == -EINTR) continue;
    if (r < 0) quit(1);
    if (p[0].revents) {
      long n = sys3(SYS_read, 0, in, sizeof in);
      if (n > 0) in_len = (size_t)n, in_off = 0;
      else if (n != -EINTR && n != -EAGAIN) stdin_open = 0;
    }
    if (in_len && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      long w = sys3(SYS_write, fd, in + in_off, in_len);
      if (w > 0) in_off += (size_t)w, in_len -= (size_t)w;
      else if (w != -EAGAIN && w != -EINTR) say("reset\n"), quit(104);
    }
    if (p[1].revents & (POLLIN | POLLERR | POLLHUP)) {
      long n = sys3(SYS_read, fd, out, sizeof out);
      if (n == 0) quit(0);
      if (n > 0 && write_all(1, out, (size_t)n) < 0) quit(1);
      if (n < 0 && n != -EAGAIN && n != -EINTR) say("reset\n"), quit(104);
    }
  }
}

/*
 * `connect` without arguments reads "IP PORT\n" from stdin first, a byte at a time (what follows
 * is the stream's data): shctl starts such a process ahead of time so a connection need not wait
 * for the exec. End of input before the line: exit 0 quietly.
 */
static int read_target(char *line, size_t max, char **ip, char **port) {
  size_t n = 0;
  for (;;) {
    long r = sys3(SYS_read, 0, line + n, 1);
    if (r == -EINTR) continue;
    if (r <= 0) quit(0);
    if (line[n] == '\n') break;
    if (++n >= max) return -1;
  }
  line[n] = 0;
  char *sp = line;
  while (*sp && *sp != ' ') sp++;
  if (!*sp) return -1;
  *sp = 0;
  *ip = line, *port = sp + 1;
  return 0;
}

static int cmd_connect(char *ip, char *port) {
  u8 sa[28];
  int len = make_addr(ip, port, sa);
  if (len < 0) return say("usage: connect IP PORT (an IPv4 or IPv6 literal, a port 1-65535)\n"), 2;
  int fd = open_connection(sa, len);
  say("connected\n");
  relay(fd);
}

static int cmd_chown(char *owner, char *path) {
  unsigned long uid, gid;
  char *colon = owner;
  while (*colon && *colon != ':') colon++;
  if (!*colon) return say("usage: chown UID:GID PATH\n"), 2;
  *colon = 0;
  if (parse_uint(owner, 10, 0xfffffffe, &uid) < 0 || parse_uint(colon + 1, 10, 0xfffffffe, &gid) < 0)
    return say("usage: chown UID:GID PATH (numbers)\n"), 2;
  long r = sys6(SYS_fchownat, AT_FDCWD, (long)path, (long)uid, (long)gid, AT_SYMLINK_NOFOLLOW, 0);
  if (r < 0) return fail_line("chown", path, r), 1;
  return 0;
}

static int cmd_chmod(char *mode_s, char *path) {
  unsigned long mode;
  if (parse_uint(mode_s, 8, 07777, &mode) < 0) return say("usage: chmod OCTAL PATH\n"), 2;
  long r = sys6(SYS_fchmodat, AT_FDCWD, (long)path, (long)mode, 0, 0, 0);
  if (r < 0) return fail_line("chmod", path, r), 1;
  return 0;
}

static int cmd_cat(char *path) {
  static u8 buf[65536];
  long fd = sys3(SYS_openat, AT_FDCWD, path, O_CLOEXEC);
  if (fd < 0) return fail_line("cat", path, fd), 1;
  for (;;) {
    long n = sys3(SYS_read, fd, buf, sizeof buf);
    if (n == -EINTR) continue;
    if (n < 0) return fail_line("cat", path, n), 1;
    if (n == 0) return 0;
    if (write_all(1, buf, (size_t)n) < 0) return 1;
  }
}

/* rmtree: `path` holds the directory's path (for messages); `len` is its length. */
static char path[4096];
static int failures;

static int empty_dir(int dfd, size_t len);

static void remove_entry(int dfd, const char *name, u8 type, size_t len) {
  size_t n = slen(name);
  if (len + 1 + n >= sizeof path) return failures++, say("rmtree: path too long\n");
  path[len] = '/';
  memcpy(path + len + 1, name, n + 1);
  long r = type == 4 ? -EISDIR : sys3(SYS_unlinkat, dfd, name, 0); /* DT_DIR */
  if (r == -EISDIR) {
    long sub = sys6(SYS_openat, dfd, (long)name, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0, 0, 0);
    if (sub < 0) r = sub;
    else {
      empty_dir((int)sub, len + 1 + n);
      sys3(SYS_close, sub, 0, 0);
      r = sys3(SYS_unlinkat, dfd, name, AT_REMOVEDIR);
    }
  }
  if (r < 0) failures++, fail_line("rmtree: cannot remove", path, r);
  path[len] = 0;
}

/* Removes the entries of an open directory; reads it again until a pass finds nothing left. */
static int empty_dir(int dfd, size_t len) {
  u8 buf[2048];
  int start = failures;
  /* Another pass only if this one removed something and nothing failed (failures are final). */
  for (int found = 1; found && failures == start;) {
    found = 0;
    sys3(SYS_lseek, dfd, 0, 0);
    for (;;) {
      long n = sys3(SYS_getdents64, dfd, buf, sizeof buf);
      if (n < 0) return failures++, fail_line("rmtree: cannot read", path, n), -1;
      if (n == 0) break;
      for (long off = 0; off < n;) {
        struct dirent64 *d = (struct dirent64 *)(buf + off);
        off += d->reclen;
        if (seq(d->name, ".") || seq(d->name, "..")) continue;
        int before = failures;
        remove_entry(dfd, d->name, d->type, len);
        if (failures == before) found = 1;
      }
    }
  }
  return 0;
}

static int cmd_rmtree(char *dir) {
  size_t n = slen(dir);
  if (n >= sizeof path) return say("rmtree: path too long\n"), 2;
  while (n > 1 && dir[n - 1] == '/') dir[--n] = 0;
  memcpy(path, dir, n + 1);
  long fd = sys6(SYS_openat, AT_FDCWD, (long)dir, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0, 0, 0);
  if (fd < 0) return fail_line("rmtree: cannot open", dir, fd), 1;
  empty_dir((int)fd, n == 1 ? 0 : n);
  return failures ? 1 : 0;
}

/*
 * Opens each directory of an absolute path below "/" without following a symbolic link; leaves
 * the last component's name in *leaf and returns an open descriptor of its parent. With `make`,
 * missing directories on the way are made (root, 0755). Fails (a message, -1) on a symbolic link,
 * something that is not a directory, or an error.
 */
static long open_parent(char *p, int make, char **leaf, const char *what) {
  if (p[0] != '/') return say(what), say(": the path must be absolute\n"), -1;
  size_t n = slen(p);
  while (n > 1 && p[n - 1] == '/') p[--n] = 0;
  if (n <= 1) return say(what), say(": refusing /\n"), -1;
  long dfd = sys6(SYS_openat, AT_FDCWD, (long)"/", O_DIRECTORY | O_CLOEXEC, 0, 0, 0);
  if (dfd < 0) return fail_line(what, "/", dfd), -1;
  char *comp = p + 1;
  for (;;) {
    char *end = comp;
    while (*end && *end != '/') end++;
    if (!*end) {
      *leaf = comp;
      return dfd;
    }
    *end = 0;
    if (end == comp || seq(comp, ".") || seq(comp, "..")) {
      *end = '/';
      return say(what), say(": "), say(p), say(": empty, . or .. parts are not allowed\n"), -1;
    }
    long sub = sys6(SYS_openat, dfd, (long)comp, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0, 0, 0);
    if (sub == -ENOENT && make) {
      long r = sys6(SYS_mkdirat, dfd, (long)comp, 0755, 0, 0, 0);
      if (r < 0 && r != -EEXIST) {
        *end = '/';
        return fail_line(what, p, r), -1;
      }
      sub = sys6(SYS_openat, dfd, (long)comp, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0, 0, 0);
    }
    sys3(SYS_close, dfd, 0, 0);
    if (sub == -ELOOP || sub == -ENOTDIR) {
      say(what), say(": "), say(p), say(": a symbolic link or a file on the way\n");
      *end = '/';
      return -1;
    }
    *end = '/';
    if (sub < 0) return sub == -ENOENT && !make ? -ENOENT : (fail_line(what, p, sub), -1);
    dfd = sub;
    comp = end + 1;
  }
}

static int cmd_mkdir(char *p, char *owner, char *mode_s) {
  unsigned long uid, gid, mode;
  char *colon = owner;
  while (*colon && *colon != ':') colon++;
  if (!*colon) return say("usage: mkdir PATH UID:GID OCTAL\n"), 2;
  *colon = 0;
  if (parse_uint(owner, 10, 0xfffffffe, &uid) < 0 || parse_uint(colon + 1, 10, 0xfffffffe, &gid) < 0 ||
      parse_uint(mode_s, 8, 07777, &mode) < 0)
    return say("usage: mkdir PATH UID:GID OCTAL (numbers)\n"), 2;
  char *leaf;
  long dfd = open_parent(p, 1, &leaf, "mkdir");
  if (dfd < 0) return 1;
  long r = sys6(SYS_mkdirat, dfd, (long)leaf, (long)mode, 0, 0, 0);
  if (r < 0 && r != -EEXIST) return fail_line("mkdir", p, r), 1;
  long fd = sys6(SYS_openat, dfd, (long)leaf, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0, 0, 0);
  if (fd < 0) return say("mkdir: "), say(p), say(": not a directory (or a symbolic link)\n"), 1;
  r = sys6(SYS_fchownat, fd, (long)"", (long)uid, (long)gid, 0x1000, 0); /* AT_EMPTY_PATH */
  if (r < 0) return fail_line("mkdir: chown", p, r), 1;
  r = sys3(SYS_fchmod, fd, mode, 0);
  if (r < 0) return fail_line("mkdir: chmod", p, r), 1;
  return 0;
}

static int cmd_purge(char *p) {
  char *leaf;
  long dfd = open_parent(p, 0, &leaf, "purge");
  if (dfd == -ENOENT) return 0;
  if (dfd < 0) return 1;
  long fd = sys6(SYS_openat, dfd, (long)leaf, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0, 0, 0);
  if (fd == -ENOENT) return 0;
  if (fd < 0) return say("purge: "), say(p), say(": not a directory (or a symbolic link)\n"), 1;
  size_t n = slen(p);
  if (n >= sizeof path) return say("purge: path too long\n"), 2;
  memcpy(path, p, n + 1);
  empty_dir((int)fd, n);
  sys3(SYS_close, fd, 0, 0);
  if (failures) return 1;
  long r = sys3(SYS_unlinkat, dfd, leaf, AT_REMOVEDIR);
  if (r < 0 && r != -ENOENT) return fail_line("purge: cannot remove", p, r), 1;
  return 0;
}

static int usage(void) {
  say("usage: shctl-helper sleep | connect IP PORT | chown UID:GID PATH | chmod OCTAL PATH | "
      "rmtree PATH | cat PATH | mkdir PATH UID:GID OCTAL | purge PATH\n");
  return 2;
}

static int run(int argc, char **argv) {
  if (argc < 2) return usage();
  char *c = argv[1];
  if (seq(c, "sleep") && argc == 2)
    for (;;) sys6(SYS_ppoll, 0, 0, 0, 0, 8, 0);
  if (seq(c, "connect") && argc == 4) return cmd_connect(argv[2], argv[3]);
  if (seq(c, "connect") && argc == 2) {
    static char line[128];
    char *ip, *port;
    if (read_target(line, sizeof line - 1, &ip, &port) < 0) return say("usage: IP PORT on the first line\n"), 2;
    return cmd_connect(ip, port);
  }
  if (seq(c, "chown") && argc == 4) return cmd_chown(argv[2], argv[3]);
  if (seq(c, "chmod") && argc == 4) return cmd_chmod(argv[2], argv[3]);
  if (seq(c, "rmtree") && argc == 3) return cmd_rmtree(argv[2]);
  if (seq(c, "cat") && argc == 3) return cmd_cat(argv[2]);
  if (seq(c, "mkdir") && argc == 5) return cmd_mkdir(argv[2], argv[3], argv[4]);
  if (seq(c, "purge") && argc == 3) return cmd_purge(argv[2]);
  return usage();
}

__attribute__((used, noreturn)) void start_c(long *sp) {
  quit(run((int)sp[0], (char **)(sp + 1)));
}
