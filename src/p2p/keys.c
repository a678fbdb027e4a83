/* keys.c - Ed25519 identity keys: generation, the key file, signatures, PublicKey protobufs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto.pb-c.h"
#include "p2p.h"

#define KEY_FILE_MAX 1024 /* a PrivateKey file is 68 bytes; anything much larger is not one */

/* The PublicKey protobuf prefix: field 1 (varint) = 1 (Ed25519), field 2 (bytes), length 32. */
static const uint8_t pubkey_prefix[4] = {0x08, 0x01, 0x12, 0x20};

static int sodium_ready(char *err, size_t errlen)
{
    if (sodium_init() < 0)
        return err_set(err, errlen, "libsodium failed to initialise");
    return 0;
}

/* For functions that cannot report an error: sodium_init only fails when the system has no
 * randomness source, which signing and verifying do not use. */
static void sodium_quiet_init(void)
{
    int rc = sodium_init();
    (void)rc;
}

int p2p_key_generate(p2p_key *k, char *err, size_t errlen)
{
    if (sodium_ready(err, errlen) < 0)
        return -1;
    crypto_sign_keypair(k->pk, k->sk);
    return 0;
}

void p2p_key_sign(const p2p_key *k, const uint8_t *msg, size_t n, uint8_t sig[64])
{
    sodium_quiet_init();
    crypto_sign_detached(sig, NULL, msg, n, k->sk);
}

bool p2p_key_verify(const uint8_t pk[32], const uint8_t *msg, size_t n, const uint8_t sig[64])
{
    sodium_quiet_init();
    return crypto_sign_verify_detached(sig, msg, n, pk) == 0;
}

void p2p_pubkey_encode(const uint8_t pk[32], uint8_t out[P2P_PUBKEY_PROTO_LEN])
{
    /* Written by hand: the encoding must be byte-for-byte deterministic since peer ids and
     * signatures are computed over it, and for one fixed-size key it always is these bytes. */
    memcpy(out, pubkey_prefix, sizeof pubkey_prefix);
    memcpy(out + sizeof pubkey_prefix, pk, 32);
}

/* The name of a KeyType value, for refusing keys we do not support by name. */
static const char *key_type_name(int type)
{
    switch (type) {
    case SWARM__CRYPTO__KEY_TYPE__RSA:
        return "RSA";
    case SWARM__CRYPTO__KEY_TYPE__Ed25519:
        return "Ed25519";
    case SWARM__CRYPTO__KEY_TYPE__Secp256k1:
        return "Secp256k1";
    case SWARM__CRYPTO__KEY_TYPE__ECDSA:
        return "ECDSA";
    default:
        return NULL;
    }
}

/* Checks a decoded key's type and data length; what says "public" or "private". */
static int check_key(int type, size_t len, size_t want, const char *what, char *err, size_t errlen)
{
    if (type != SWARM__CRYPTO__KEY_TYPE__Ed25519) {
        const char *name = key_type_name(type);
        if (name)
            return err_set(err, errlen, "%s keys are not supported (only Ed25519)", name);
        return err_set(err, errlen, "unknown key type %d", type);
    }
    if (len != want)
        return err_set(err, errlen, "Ed25519 %s key has %zu bytes, expected %zu", what, len, want);
    return 0;
}

int p2p_pubkey_decode(const uint8_t *p, size_t n, uint8_t pk[32], char *err, size_t errlen)
{
    Swarm__Crypto__PublicKey *m = swarm__crypto__public_key__unpack(NULL, n, p);
    if (!m)
        return err_set(err, errlen, "malformed PublicKey protobuf (%zu bytes)", n);
    int rc = check_key((int)m->type, m->data.len, 32, "public", err, errlen);
    if (rc == 0)
        memcpy(pk, m->data.data, 32);
    swarm__crypto__public_key__free_unpacked(m, NULL);
    return rc;
}

/* ---- the key file --------------------------------------------------------------------------- */

/* Creates dir and any missing parents with mode 0700 (existing ones are left as they are). */
static int mkdir_parents(const char *dir, char *err, size_t errlen)
{
    char buf[PATH_MAX];
    size_t n = strlen(dir);
    if (n >= sizeof buf)
        return err_set(err, errlen, "path too long: %s", dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        if (buf[i - 1] == '/')
            continue; /* "a//b" */
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return err_errno(err, errlen, errno, "cannot create directory %s", buf);
        buf[i] = saved;
    }
    return 0;
}

/* Writes parent directory of path into dir ("." if it has none); returns 0 or -1 (too long). */
static int parent_dir(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, cap, ".");
        return 0;
    }
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= cap)
        return -1;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return 0;
}

/* Writes all of p to fd, retrying short writes. Returns 0 or -1 with errno set. */
static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes k as a PrivateKey protobuf into a new file "<path>.tmp-XXXXXX" (mode 0600, synced),
 * creating missing parent directories. On success tmp holds its name. */
static int write_temp(const char *path, const p2p_key *k, char tmp[PATH_MAX], char *err,
                      size_t errlen)
{
    char dir[PATH_MAX];
    if (parent_dir(path, dir, sizeof dir) < 0)
        return err_set(err, errlen, "path too long: %s", path);
    if (strcmp(dir, ".") != 0 && mkdir_parents(dir, err, errlen) < 0)
        return -1;
    if (snprintf(tmp, PATH_MAX, "%s.tmp-XXXXXX", path) >= PATH_MAX)
        return err_set(err, errlen, "path too long: %s", path);

    Swarm__Crypto__PrivateKey m = SWARM__CRYPTO__PRIVATE_KEY__INIT;
    m.type = SWARM__CRYPTO__KEY_TYPE__Ed25519;
    m.data.len = sizeof k->sk;
    m.data.data = (uint8_t *)k->sk;
    uint8_t enc[80];
    if (swarm__crypto__private_key__get_packed_size(&m) > sizeof enc)
        return err_set(err, errlen, "PrivateKey encoding too large");
    size_t n = swarm__crypto__private_key__pack(&m, enc);

    int fd = mkstemp(tmp); /* mode 0600 */
    if (fd < 0) {
        sodium_memzero(enc, sizeof enc);
        return err_errno(err, errlen, errno, "cannot create %s", tmp);
    }
    int rc = 0;
    if (fchmod(fd, 0600) != 0 || write_all(fd, enc, n) != 0 || fsync(fd) != 0)
        rc = err_errno(err, errlen, errno, "cannot write %s", tmp);
    if (close(fd) != 0 && rc == 0)
        rc = err_errno(err, errlen, errno, "cannot write %s", tmp);
    sodium_memzero(enc, sizeof enc);
    if (rc < 0)
        unlink(tmp);
    return rc;
}

/* Makes a rename or link in the directory of path durable. Failure is not an error: the file
 * itself is complete either way. */
static void sync_parent(const char *path)
{
    char dir[PATH_MAX];
    if (parent_dir(path, dir, sizeof dir) < 0)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int p2p_key_save(const char *path, const p2p_key *k, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    if (write_temp(path, k, tmp, err, errlen) < 0)
        return -1;
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return err_errno(err, errlen, e, "cannot rename %s to %s", tmp, path);
    }
    sync_parent(path);
    return 0;
}

/* Reads and checks the key file at path; ENOENT is reported through *missing. */
static int key_read(const char *path, p2p_key *k, bool *missing, char *err, size_t errlen)
{
    *missing = false;
    /* O_NONBLOCK: a FIFO put in place of the key must not hang us before the S_ISREG check. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT) {
            *missing = true;
            return -1;
        }
        return err_errno(err, errlen, errno, "cannot open key file %s", path);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return err_errno(err, errlen, e, "cannot stat key file %s", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, errlen, "key file %s is not a regular file", path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return err_set(err, errlen,
                       "key file %s has mode %03o: group or others may access the private key; "
                       "fix it with: chmod 600 %s",
                       path, (unsigned)(st.st_mode & 0777), path);
    }
    uint8_t buf[KEY_FILE_MAX + 1];
    size_t n = 0;
    while (n < sizeof buf) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            sodium_memzero(buf, sizeof buf);
            return err_errno(err, errlen, e, "cannot read key file %s", path);
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n > KEY_FILE_MAX) {
        sodium_memzero(buf, sizeof buf);
        return err_set(err, errlen, "key file %s is too large to be a key", path);
    }

    Swarm__Crypto__PrivateKey *m = swarm__crypto__private_key__unpack(NULL, n, buf);
    sodium_memzero(buf, sizeof buf);
    if (!m)
        return err_set(err, errlen, "key file %s is corrupt: not a PrivateKey protobuf", path);
    char why[128];
    int rc = check_key((int)m->type, m->data.len, 64, "private", why, sizeof why);
    if (rc < 0) {
        swarm__crypto__private_key__free_unpacked(m, NULL);
        return err_set(err, errlen, "key file %s: %s", path, why);
    }
    /* The stored public half must be the one the seed gives, or the file is damaged. */
    uint8_t pk[32], sk[64];
    crypto_sign_seed_keypair(pk, sk, m->data.data);
    if (sodium_memcmp(sk, m->data.data, 64) != 0)
        rc = err_set(err, errlen, "key file %s is corrupt: its public key does not match its seed",
                     path);
    sodium_memzero(m->data.data, m->data.len);
    swarm__crypto__private_key__free_unpacked(m, NULL);
    if (rc == 0) {
        memcpy(k->sk, sk, 64);
        memcpy(k->pk, pk, 32);
    }
    sodium_memzero(sk, sizeof sk);
    return rc;
}

int p2p_key_load_or_create(const char *path, p2p_key *k, bool *created, char *err, size_t errlen)
{
    if (created)
        *created = false;
    if (sodium_ready(err, errlen) < 0)
        return -1;
    bool missing;
    if (key_read(path, k, &missing, err, errlen) == 0)
        return 0;
    if (!missing)
        return -1;

    p2p_key fresh;
    crypto_sign_keypair(fresh.pk, fresh.sk);
    char tmp[PATH_MAX];
    if (write_temp(path, &fresh, tmp, err, errlen) < 0) {
        sodium_memzero(&fresh, sizeof fresh);
        return -1;
    }
    /* link() rather than rename(): if another process created the key meanwhile, keep theirs
     * instead of silently replacing an identity that may already be in use. */
    int rc = link(tmp, path);
    int e = errno;
    if (rc != 0 && e != EEXIST) {
        /* Some file systems have no hard links. */
        rc = rename(tmp, path);
        e = errno;
    }
    unlink(tmp);
    if (rc != 0 && e == EEXIST) {
        sodium_memzero(&fresh, sizeof fresh);
        if (key_read(path, k, &missing, err, errlen) == 0)
            return 0;
        if (missing)
            err_set(err, errlen, "key file %s vanished while being created", path);
        return -1;
    }
    if (rc != 0) {
        sodium_memzero(&fresh, sizeof fresh);
        return err_errno(err, errlen, e, "cannot create key file %s", path);
    }
    sync_parent(path);
    *k = fresh;
    sodium_memzero(&fresh, sizeof fresh);
    if (created)
        *created = true;
    return 0;
}
