/* power.c - load from /proc/loadavg, battery from /sys/class/power_supply/<x>/ whose type is
 * "Battery" (capacity, status). Small reads of kernel files, cheap enough for the loop thread
 * every few seconds. Termux without root often cannot read power_supply: then unknown. */
#include "power.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads the first line of a small file into out; false if it cannot. */
static bool read_line(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    if (ok)
        out[strcspn(out, "\r\n")] = '\0';
    return ok;
}

void power_read(const char *root, unsigned cores, power_state *out)
{
    out->load_permille = out->battery = out->charging = -1;
    char path[1600], line[128];
    snprintf(path, sizeof path, "%s/proc/loadavg", root);
    if (read_line(path, line, sizeof line)) {
        char *end;
        double l = strtod(line, &end);
        if (end != line && l >= 0 && l < 1e6)
            out->load_permille = (int)(l * 1000.0 / (cores ? cores : 1) + 0.5);
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/sys/class/power_supply", root);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s/type", dir, de->d_name);
        if (!read_line(path, line, sizeof line) || strcmp(line, "Battery") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s/capacity", dir, de->d_name);
        if (read_line(path, line, sizeof line)) {
            char *end;
            long v = strtol(line, &end, 10);
            if (end != line && v >= 0 && v <= 100)
                out->battery = (int)v;
        }
        snprintf(path, sizeof path, "%s/%s/status", dir, de->d_name);
        if (read_line(path, line, sizeof line)) {
            if (strcmp(line, "Charging") == 0 || strcmp(line, "Full") == 0)
                out->charging = 1;
            else if (strcmp(line, "Discharging") == 0 || strcmp(line, "Not charging") == 0)
                out->charging = 0;
        }
        break; /* the first battery speaks for the device */
    }
    closedir(d);
}
