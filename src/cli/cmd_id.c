/*
 * cmd_id.c - `swarm id`: prints the libp2p peer id of this node's key, creating the key on
 * first use, so scripts can learn an id before the node runs (`id=$(swarm id --key k)`).
 */
#include <stdio.h>

#include <sodium.h>

#include "cli.h"
#include "p2p.h"

static const char usage[] =
    "usage: swarm id [--key FILE] [--data-dir DIR]\n"
    "\n"
    "Print this node's libp2p peer id on stdout, creating its Ed25519 key (mode 0600) if the\n"
    "key file does not exist yet (said on stderr).\n"
    "\n"
    "  --key FILE       key file (default DIR/" CLI_KEY_FILE ")\n"
    "  --data-dir DIR   data folder (default $SWARM_HOME, else ~/.swarm)\n"
    "\n"
    "Exit status: 0 ok, 1 the key cannot be read or written, 2 usage.\n";

int cmd_id(int argc, char **argv)
{
    const char *key = NULL, *data_dir = NULL;
    cli_args a;
    cli_init(&a, "id", usage, argc, argv);
    while (cli_next(&a)) {
        if (cli_help(&a) || cli_opt(&a, "--key", &key) || cli_opt(&a, "--data-dir", &data_dir))
            continue;
        cli_unknown(&a);
    }
    if (a.exit_code >= 0)
        return a.exit_code;

    char dir[4096], path[4096], err[512];
    if (!key) {
        if (cli_data_dir(data_dir, dir, sizeof dir, err, sizeof err) != 0) {
            fprintf(stderr, "swarm id: %s\n", err);
            return SWARM_EXIT_RUNTIME;
        }
        int n = snprintf(path, sizeof path, "%s/%s", dir, CLI_KEY_FILE);
        if (n < 0 || (size_t)n >= sizeof path) {
            fprintf(stderr, "swarm id: data folder path is too long\n");
            return SWARM_EXIT_RUNTIME;
        }
        key = path;
    }
    p2p_key k;
    bool created = false;
    if (p2p_key_load_or_create(key, &k, &created, err, sizeof err) != 0) {
        fprintf(stderr, "swarm id: %s\n", err);
        return SWARM_EXIT_RUNTIME;
    }
    if (created)
        fprintf(stderr, "swarm id: created new key at %s\n", key);
    p2p_peer_id id;
    char text[P2P_PEER_ID_STRLEN];
    p2p_peer_id_from_pubkey(k.pk, &id);
    sodium_memzero(&k, sizeof k); /* only the public half is needed */
    printf("%s\n", p2p_peer_id_str(&id, text));
    return fflush(stdout) == 0 ? SWARM_EXIT_OK : SWARM_EXIT_RUNTIME;
}
