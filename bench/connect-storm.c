// Loopback connect storm: one listener on 127.0.0.1 (an accept thread closes what it accepts)
// and client threads doing connect() + close() as fast as they can for a fixed time.
// Clients close with SO_LINGER {1, 0} (RST, no TIME_WAIT) so ephemeral ports never run out.
// Usage: connect-storm SECONDS [CLIENT_THREADS]
// Between two network namespaces (bench/node-storm.sh: one pod connecting to another on the real
// node), the two halves run apart:
//   connect-storm --serve PORT                         the listener on 0.0.0.0:PORT, accepting and
//                                                      closing until killed
//   connect-storm SECONDS CLIENT_THREADS ADDR PORT     the clients only, connecting to ADDR:PORT
// Prints: {"connects":N,"seconds":S,"rate":R,"cpu":C} with C the process's user+system CPU
// seconds (the BPF programs run in its context, so their cost shows up there).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in addr;
static atomic_long connects;
static atomic_int stop;

static void *acceptor(void *arg)
{
	int lfd = *(int *)arg;
	while (!atomic_load(&stop)) {
		int fd = accept(lfd, NULL, NULL);
		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

static void *client(void *arg)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	long n = 0;
	(void)arg;
	while (!atomic_load(&stop)) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			n++;
		close(fd);
	}
	atomic_fetch_add(&connects, n);
	return NULL;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs `threads` clients (connecting to `addr`) for `seconds`; returns how long they ran. */
static double run_clients(double seconds, int threads)
{
	pthread_t cl[64];
	double t0 = now();

	for (int i = 0; i < threads; i++)
		pthread_create(&cl[i], NULL, client, NULL);
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&stop, 1);
	for (int i = 0; i < threads; i++)
		pthread_join(cl[i], NULL);
	return now() - t0;
}

/* The result line: connects made, the clients' time, the rate, this process's CPU seconds, the port. */
static void print_result(double t)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("{\"connects\":%ld,\"seconds\":%.3f,\"rate\":%.0f,\"cpu\":%.3f,\"port\":%d}\n", atomic_load(&connects), t,
	       atomic_load(&connects) / t, cpu, ntohs(addr.sin_port));
}

/* The listener of a storm whose clients run elsewhere: accept threads until killed. */
static int serve(int port)
{
	int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	pthread_t acc[2];

	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_ANY);
	addr.sin_port = htons((unsigned short)port);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) || listen(lfd, 4096)) {
		perror("listen");
		return 1;
	}
	printf("serving on %d\n", port);
	fflush(stdout);
	for (int i = 0; i < 2; i++)
		pthread_create(&acc[i], NULL, acceptor, &lfd);
	pthread_join(acc[0], NULL);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--serve") == 0)
		return serve(atoi(argv[2]));
	if (argc == 5) {
		/* Clients only, to a listener elsewhere. */
		double seconds = atof(argv[1]);
		int threads = atoi(argv[2]);

		addr.sin_family = AF_INET;
		addr.sin_port = htons((unsigned short)atoi(argv[4]));
		if (inet_pton(AF_INET, argv[3], &addr.sin_addr) != 1 || threads < 1 || threads > 64) {
			fprintf(stderr, "usage: connect-storm SECONDS THREADS ADDR PORT\n");
			return 2;
		}
		print_result(run_clients(seconds, threads));
		return 0;
	}
	double seconds = argc > 1 ? atof(argv[1]) : 5;
	int threads = argc > 2 ? atoi(argv[2]) : 1;
	int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	socklen_t len = sizeof(addr);
	pthread_t acc;

	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) || listen(lfd, 4096) ||
	    getsockname(lfd, (struct sockaddr *)&addr, &len)) {
		perror("listen");
		return 1;
	}
	if (threads < 1 || threads > 64)
		threads = 1;
	pthread_create(&acc, NULL, acceptor, &lfd);
	double t = run_clients(seconds, threads);
	/* Wake the acceptor with one last connect, then exit. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	close(fd);
	pthread_join(acc, NULL);
	print_result(t);
	return 0;
}
