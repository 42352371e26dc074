// Loads one no-op program of noop.bpf.o and attaches it (the state tracepoint, or at the cgroup v2
// root), then holds it for SECONDS: what merely being attached to that hook costs a connect.
// Usage: loader OBJECT state|sockops|connect4 SECONDS CGROUP2_ROOT
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: loader OBJECT state|sockops|connect4 SECONDS CGROUP2_ROOT\n");
		return 2;
	}
	const char *which = argv[2];
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	struct bpf_program *p;
	int found = 0;

	if (!obj) {
		perror(argv[1]);
		return 1;
	}
	bpf_object__for_each_program(p, obj) {
		int mine = strcmp(bpf_program__name(p) + strlen("noop_"), which) == 0;
		bpf_program__set_autoload(p, mine);
		found |= mine;
	}
	if (!found) {
		fprintf(stderr, "no program noop_%s in %s\n", which, argv[1]);
		return 2;
	}
	if (bpf_object__load(obj)) {
		perror("loading");
		return 1;
	}
	int cg = open(argv[4], O_RDONLY);
	if (cg < 0) {
		perror(argv[4]);
		return 1;
	}
	bpf_object__for_each_program(p, obj) {
		if (strcmp(bpf_program__name(p) + strlen("noop_"), which) != 0)
			continue;
		struct bpf_link *l = strcmp(which, "state") == 0 ? bpf_program__attach(p) : bpf_program__attach_cgroup(p, cg);
		if (!l) {
			perror("attaching");
			return 1;
		}
	}
	printf("attached %s\n", which);
	fflush(stdout);
	sleep((unsigned)atoi(argv[3]));
	return 0;
}
