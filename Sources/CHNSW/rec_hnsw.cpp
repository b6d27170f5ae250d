// See include/rec_hnsw.h. hnswlib.h defines non-inline helpers, so it is included here only.
#include "rec_hnsw.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct rec_hnsw {
    // Searches always use inner products; a graph built on L2 distances keeps its build space too.
    std::unique_ptr<hnswlib::InnerProductSpace> space;
    std::unique_ptr<hnswlib::L2Space> buildSpace;
    std::unique_ptr<hnswlib::HierarchicalNSW<float>> alg;
    size_t dim;
};

static void set_error(char *error, size_t len, const char *message) {
    if (error == nullptr || len == 0) return;
    std::strncpy(error, message, len - 1);
    error[len - 1] = '\0';
}

extern "C" rec_hnsw *rec_hnsw_build(const float *rows, size_t count, size_t dim, size_t m, size_t ef_construction,
                                    uint64_t seed, int threads, int l2_graph, char *error, size_t error_len) {
    try {
        if (count == 0 || dim == 0) {
            set_error(error, error_len, "an index needs at least one row of at least one float");
            return nullptr;
        }
        auto index = std::make_unique<rec_hnsw>();
        index->dim = dim;
        index->space = std::make_unique<hnswlib::InnerProductSpace>(dim);
        hnswlib::SpaceInterface<float> *build = index->space.get();
        if (l2_graph) {
            index->buildSpace = std::make_unique<hnswlib::L2Space>(dim);
            build = index->buildSpace.get();
        }
        index->alg = std::make_unique<hnswlib::HierarchicalNSW<float>>(build, count, m, ef_construction,
                                                                       static_cast<size_t>(seed));
        // The first point alone, then the rest on `threads` threads, each taking the next row.
        index->alg->addPoint(rows, 0);
        std::atomic<size_t> next(1);
        std::atomic<bool> failed(false);
        std::string failure;
        std::mutex failureLock;
        auto work = [&]() {
            for (;;) {
                size_t i = next.fetch_add(1);
                if (i >= count || failed.load()) return;
                try {
                    index->alg->addPoint(rows + i * dim, static_cast<hnswlib::labeltype>(i));
                } catch (const std::exception &e) {
                    std::lock_guard<std::mutex> g(failureLock);
                    failure = e.what();
                    failed.store(true);
                    return;
                }
            }
        };
        int n = std::max(1, threads);
        std::vector<std::thread> pool;
        for (int t = 1; t < n; t++) pool.emplace_back(work);
        work();
        for (auto &t : pool) t.join();
        if (failed.load()) {
            set_error(error, error_len, failure.c_str());
            return nullptr;
        }
        // The links stay those of the L2 graph; the searches rank by inner product.
        index->alg->fstdistfunc_ = index->space->get_dist_func();
        index->alg->dist_func_param_ = index->space->get_dist_func_param();
        return index.release();
    } catch (const std::exception &e) {
        set_error(error, error_len, e.what());
        return nullptr;
    }
}

extern "C" rec_hnsw *rec_hnsw_load(const char *path, size_t dim, char *error, size_t error_len) {
    try {
        auto index = std::make_unique<rec_hnsw>();
        index->dim = dim;
        index->space = std::make_unique<hnswlib::InnerProductSpace>(dim);
        index->alg = std::make_unique<hnswlib::HierarchicalNSW<float>>(index->space.get(), std::string(path));
        // hnswlib 0.6.2's loading constructor leaves num_deleted_ uninitialised before loadIndex
        // counts into it, so searches took the slower path that checks deletion marks. Recount.
        auto &a = *index->alg;
        a.num_deleted_ = 0;
        for (size_t i = 0; i < a.cur_element_count; i++)
            if (a.isMarkedDeleted(static_cast<hnswlib::tableint>(i))) a.num_deleted_ += 1;
        // hnswlib takes the row width from the space; a file built with another width has
        // its labels somewhere else.
        if (index->alg->label_offset_ != index->alg->offsetData_ + dim * sizeof(float)) {
            set_error(error, error_len, "index rows do not have the expected width");
            return nullptr;
        }
        return index.release();
    } catch (const std::exception &e) {
        set_error(error, error_len, e.what());
        return nullptr;
    }
}

extern "C" int rec_hnsw_save(const rec_hnsw *index, const char *path, char *error, size_t error_len) {
    try {
        index->alg->saveIndex(std::string(path));
        return 0;
    } catch (const std::exception &e) {
        set_error(error, error_len, e.what());
        return -1;
    }
}

extern "C" void rec_hnsw_set_ef(rec_hnsw *index, size_t ef) { index->alg->setEf(std::max<size_t>(1, ef)); }

extern "C" long rec_hnsw_search(const rec_hnsw *index, const float *query, size_t k, int32_t *labels) {
    try {
        auto result = index->alg->searchKnn(query, k);  // worst first
        long n = static_cast<long>(result.size());
        for (long i = n - 1; i >= 0; i--) {
            labels[i] = static_cast<int32_t>(result.top().second);
            result.pop();
        }
        return n;
    } catch (const std::exception &) {
        return -1;
    }
}

extern "C" size_t rec_hnsw_count(const rec_hnsw *index) { return index->alg->cur_element_count; }
extern "C" size_t rec_hnsw_dim(const rec_hnsw *index) { return index->dim; }

extern "C" size_t rec_hnsw_memory_bytes(const rec_hnsw *index) {
    const auto &a = *index->alg;
    // Level 0 holds every element's vector, label and links; an element has a level above 0
    // with probability 1/M, each of maxM links.
    size_t upper = a.cur_element_count / std::max<size_t>(1, a.M_) * a.size_links_per_element_;
    return a.cur_element_count * a.size_data_per_element_ + upper;
}

extern "C" void rec_hnsw_free(rec_hnsw *index) { delete index; }
