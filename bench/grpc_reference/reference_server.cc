// The grpc C++ reference for bench/grpc: async API, one completion queue served by one
// thread, answering GetJobStatus from memory exactly as tests/grpc_harness does.
// Usage: grpc_reference_server PORT
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "jobscheduler.grpc.pb.h"

namespace {

class Call {
  public:
    Call(jobscheduler::JobScheduler::AsyncService *svc, grpc::ServerCompletionQueue *cq)
        : svc_(svc), cq_(cq), writer_(&ctx_)
    {
        svc_->RequestGetJobStatus(&ctx_, &req_, &writer_, cq_, cq_, this);
    }

    void Proceed()
    {
        if (done_) {
            delete this;
            return;
        }
        new Call(svc_, cq_);
        done_ = true;
        if (req_.job_id() == "missing") {
            writer_.FinishWithError(grpc::Status(grpc::StatusCode::NOT_FOUND, "job not found"),
                                    this);
            return;
        }
        jobscheduler::GetJobStatusResponse resp;
        jobscheduler::Job *job = resp.mutable_job();
        job->set_job_id(req_.job_id());
        job->set_name("bench");
        job->set_namespace_(req_.namespace_().empty() ? "default" : req_.namespace_());
        job->set_type("timer");
        job->set_state(jobscheduler::JOB_STATE_RUNNING);
        job->mutable_created_at()->set_seconds(1764390600);
        job->set_active(1);
        writer_.Finish(resp, grpc::Status::OK, this);
    }

  private:
    jobscheduler::JobScheduler::AsyncService *svc_;
    grpc::ServerCompletionQueue *cq_;
    grpc::ServerContext ctx_;
    jobscheduler::GetJobStatusRequest req_;
    grpc::ServerAsyncResponseWriter<jobscheduler::GetJobStatusResponse> writer_;
    bool done_ = false;
};

} // namespace

int main(int argc, char **argv)
{
    std::string addr = std::string("0.0.0.0:") + (argc > 1 ? argv[1] : "50070");
    jobscheduler::JobScheduler::AsyncService svc;
    grpc::ServerBuilder builder;
    builder.AddListeningPort(addr, grpc::InsecureServerCredentials());
    builder.RegisterService(&svc);
    builder.SetMaxReceiveMessageSize(4 << 20);
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
    std::unique_ptr<grpc::ServerCompletionQueue> cq = builder.AddCompletionQueue();
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (!server) {
        std::fprintf(stderr, "grpc_reference_server: cannot listen on %s\n", addr.c_str());
        return 1;
    }
    std::printf("{\"grpc_port\":%s}\n", argc > 1 ? argv[1] : "50070");
    std::fflush(stdout);
    // Many outstanding requests so concurrent calls never wait for a request slot.
    for (int i = 0; i < 1000; i++)
        new Call(&svc, cq.get());
    void *tag;
    bool ok;
    while (cq->Next(&tag, &ok)) {
        if (ok)
            static_cast<Call *>(tag)->Proceed();
        else
            delete static_cast<Call *>(tag);
    }
    return 0;
}
