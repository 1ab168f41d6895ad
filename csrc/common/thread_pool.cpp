#include "common/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace vrft {
namespace {

thread_local bool t_inside_pool_task = false;

int default_thread_count() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// One parallel_for call: chunks are claimed through `next`; `pending` counts helpers that still
// hold a reference to the job.
struct Job {
  const std::function<void(int64_t, int64_t)>* body = nullptr;
  int64_t n = 0;
  int64_t chunk = 1;
  std::atomic<int64_t> next{0};
  std::atomic<int> pending{0};
  std::mutex done_mutex;
  std::condition_variable done_cv;
  std::mutex error_mutex;
  std::exception_ptr error;

  // Claims and runs chunks until none is left.
  void run_chunks() {
    for (;;) {
      const int64_t begin = next.fetch_add(chunk, std::memory_order_relaxed);
      if (begin >= n) return;
      const int64_t end = std::min(n, begin + chunk);
      try {
        (*body)(begin, end);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next.store(n, std::memory_order_relaxed);  // stop handing out further chunks
      }
    }
  }
};

class ThreadPool {
 public:
  ThreadPool() { resize(default_thread_count()); }
  ~ThreadPool() { stop_workers(); }

  int size() const { return size_.load(); }

  void resize(int n) {
    std::lock_guard<std::mutex> resize_lock(resize_mutex_);
    stop_workers();
    size_.store(n);
    stopping_ = false;
    for (int i = 1; i < n; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
    const int threads = size();
    if (n <= 0) return;
    grain = std::max<int64_t>(grain, 1);
    if (threads <= 1 || n <= grain || t_inside_pool_task) {
      body(0, n);
      return;
    }
    auto job = std::make_shared<Job>();
    job->body = &body;
    job->n = n;
    // About four chunks per thread: enough to balance ragged work, few enough to stay cheap.
    job->chunk = std::max<int64_t>(grain, (n + 4 * threads - 1) / (4 * threads));
    const int64_t n_chunks = (n + job->chunk - 1) / job->chunk;
    const int helpers = static_cast<int>(std::min<int64_t>(threads - 1, n_chunks - 1));
    job->pending.store(helpers);
    {
      std::lock_guard<std::mutex> lock(queue_mutex_);
      for (int i = 0; i < helpers; ++i) queue_.push_back(job);
    }
    if (helpers == 1) {
      queue_cv_.notify_one();
    } else {
      queue_cv_.notify_all();
    }

    t_inside_pool_task = true;
    job->run_chunks();
    t_inside_pool_task = false;

    // Helpers that never picked the job up would find no chunk left; take their entries back
    // so that we do not wait for a worker that is busy with another caller's job.
    {
      std::lock_guard<std::mutex> lock(queue_mutex_);
      const auto removed = std::remove(queue_.begin(), queue_.end(), job);
      const auto n_removed = static_cast<int>(queue_.end() - removed);
      queue_.erase(removed, queue_.end());
      job->pending.fetch_sub(n_removed);
    }
    {
      std::unique_lock<std::mutex> lock(job->done_mutex);
      job->done_cv.wait(lock, [&] { return job->pending.load() == 0; });
    }
    if (job->error) std::rethrow_exception(job->error);
  }

 private:
  void worker_loop() {
    t_inside_pool_task = true;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(queue_mutex_);
        queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_ && queue_.empty()) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job->run_chunks();
      if (job->pending.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lock(job->done_mutex);
        job->done_cv.notify_all();
      }
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(queue_mutex_);
      stopping_ = true;
    }
    queue_cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::atomic<int> size_{1};
  std::mutex resize_mutex_;
  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
};

ThreadPool& pool() {
  // Leaked on purpose: joining threads from a static destructor at interpreter exit can
  // deadlock (the interpreter may already have torn down).
  static ThreadPool* instance = new ThreadPool();
  return *instance;
}

}  // namespace

int get_num_threads() { return pool().size(); }

void set_num_threads(int n) {
  if (n < 0) {
    throw std::invalid_argument("num_threads must be >= 0 (0 means the CPU count), got " +
                                std::to_string(n));
  }
  pool().resize(n == 0 ? default_thread_count() : n);
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
  pool().run(n, grain, body);
}

}  // namespace vrft
