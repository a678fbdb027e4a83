/* test_mesh_power.c - the heartbeat's load and battery, read from a folder laid out like /proc
 * and /sys: a battery charging or not, a non-battery supply ignored, junk and missing files
 * read as unknown. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "power.h"

static void put(const char *root, const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void mk(const char *root, const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    mkdir(p, 0700);
}

int main(void)
{
    char root[] = "/tmp/swarm-power-XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    power_state ps;

    /* nothing there: all unknown */
    power_read(root, 2, &ps);
    CHECK_EQ(ps.load_permille, -1);
    CHECK_EQ(ps.battery, -1);
    CHECK_EQ(ps.charging, -1);

    mk(root, "proc");
    put(root, "proc/loadavg", "1.50 0.80 0.40 2/345 6789\n");
    mk(root, "sys");
    mk(root, "sys/class");
    mk(root, "sys/class/power_supply");
    mk(root, "sys/class/power_supply/AC");
    put(root, "sys/class/power_supply/AC/type", "Mains\n");
    put(root, "sys/class/power_supply/AC/capacity", "12\n"); /* not a battery: ignored */
    power_read(root, 2, &ps);
    CHECK_EQ(ps.load_permille, 750); /* 1.5 over 2 cores */
    CHECK_EQ(ps.battery, -1);

    mk(root, "sys/class/power_supply/BAT0");
    put(root, "sys/class/power_supply/BAT0/type", "Battery\n");
    put(root, "sys/class/power_supply/BAT0/capacity", "83\n");
    put(root, "sys/class/power_supply/BAT0/status", "Discharging\n");
    power_read(root, 1, &ps);
    CHECK_EQ(ps.load_permille, 1500);
    CHECK_EQ(ps.battery, 83);
    CHECK_EQ(ps.charging, 0);
    put(root, "sys/class/power_supply/BAT0/status", "Charging\n");
    power_read(root, 1, &ps);
    CHECK_EQ(ps.charging, 1);

    /* junk is unknown, never a wrong number */
    put(root, "proc/loadavg", "garbage\n");
    put(root, "sys/class/power_supply/BAT0/capacity", "250\n");
    put(root, "sys/class/power_supply/BAT0/status", "Unknown\n");
    power_read(root, 1, &ps);
    CHECK_EQ(ps.load_permille, -1);
    CHECK_EQ(ps.battery, -1);
    CHECK_EQ(ps.charging, -1);

    /* the real system: whatever it says is in range */
    power_read("", 2, &ps);
    CHECK(ps.load_permille >= -1);
    CHECK(ps.battery >= -1 && ps.battery <= 100);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK_EQ(system(cmd), 0);
    return CHECK_DONE();
}
