/* service: the jobscheduler.JobScheduler gRPC service. It registers ScheduleJob,
 * GetJobStatus, ListJobs, CancelJob and WatchJobs with the gRPC server, keeps the
 * watch-driven cache of our Jobs (and of their pods, for why a job waits), and turns
 * Kubernetes answers into gRPC ones. All job state lives in Kubernetes. */
#ifndef JOBS_SERVICE_H
#define JOBS_SERVICE_H

#include <stdbool.h>

struct config;
struct metrics;
struct k8s_client;
struct grpc_server;
struct jobs_service;

/* Registers the methods on |grpc| (before it starts) and the service's metrics. Nothing is
 * owned: all arguments must outlive the service. */
struct jobs_service *jobs_service_new(const struct config *cfg, struct metrics *metrics,
                                      struct k8s_client *k8s, struct grpc_server *grpc);
/* Runs |cb| once, when the job cache has completed its first list. */
void jobs_service_on_synced(struct jobs_service *svc, void (*cb)(void *data), void *data);
/* Starts the informers. Returns 0 or a negative errno (logged). */
int jobs_service_start(struct jobs_service *svc);
/* True while the job cache is synced: after its first list, and not while the API server is
 * unreachable. */
bool jobs_service_synced(const struct jobs_service *svc);
/* Stops the informers (no cache callbacks after it) and ends every WatchJobs stream. Calls
 * still waiting for Kubernetes finish when the client's requests are cancelled. */
void jobs_service_stop(struct jobs_service *svc);
/* Frees the service; call after the Kubernetes client has closed. */
void jobs_service_free(struct jobs_service *svc);

#endif
