// cpp/bindings/workspace_pool.h - hands out per-call scratch space so one loaded model can serve
// several Python threads at once (the GIL is released during inference) without allocating
// a workspace on every call.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

namespace safu_py {

template <class Model, class Workspace>
class WorkspacePool {
 public:
  explicit WorkspacePool(const Model& model) : model_(model) {}

  // RAII lease: returns the workspace to the pool when destroyed.
  class Lease {
   public:
    Lease(WorkspacePool& pool, std::unique_ptr<Workspace> ws) : pool_(pool), ws_(std::move(ws)) {}
    ~Lease() { pool_.give_back(std::move(ws_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Workspace& operator*() { return *ws_; }

   private:
    WorkspacePool& pool_;
    std::unique_ptr<Workspace> ws_;
  };

  Lease take() {
    std::unique_ptr<Workspace> ws;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        ws = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (!ws) ws.reset(new Workspace(model_));
    return Lease(*this, std::move(ws));
  }

 private:
  void give_back(std::unique_ptr<Workspace> ws) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(ws));
  }

  const Model& model_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Workspace>> free_;
};

}  // namespace safu_py
