// cpp/bindings/lm_stream_py.cpp - safu._core.LmModel / LmStream (docs/lm_model.md streaming).
//
//   lm = _core.LmModel("tiny.safu"); s = lm.stream()
//   s.feed(7); logp = s.logprobs()            # float32 (N,)
//   lm.all_logprobs(ids)                      # (n + 1, N): targets s_1..s_n, <eod>
//   s.score(ids) -> sum of log p over the ids fed (GIL released; used by the benchmark)
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>

#include "bindings.h"
#include "safu/errors.h"
#include "safu/lm_stream.h"
#include "safu/sampler.h"

namespace py = pybind11;

namespace safu_py {
namespace {

using IdArray = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

std::vector<int32_t> checked_ids(const IdArray& ids, size_t N) {
  if (ids.ndim() != 1) throw safu::ShapeError("ids must be 1-D");
  std::vector<int32_t> out(size_t(ids.shape(0)));
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t v = ids.data()[i];
    if (v < 0 || v >= int64_t(N))
      throw safu::ShapeError("id " + std::to_string(v) + " at position " + std::to_string(i) +
                             " is outside the vocabulary [0, " + std::to_string(N) + ")");
    out[i] = int32_t(v);
  }
  return out;
}

struct PyLmStream {
  std::shared_ptr<const safu::LmModel> model;
  safu::LmStream stream;
  explicit PyLmStream(std::shared_ptr<const safu::LmModel> m) : model(std::move(m)), stream(*model) {}
};

}  // namespace

void bind_lm_stream(py::module_& m) {
  py::class_<safu::LmModel, std::shared_ptr<safu::LmModel>>(m, "LmModel", "A kind-'lm' model (docs/lm_model.md).")
      .def(py::init([](const std::string& path) {
             py::gil_scoped_release release;
             return std::make_shared<safu::LmModel>(safu::LmModel::load(path));
           }),
           py::arg("path"))
      .def_static(
          "from_bytes",
          [](py::bytes data) {
            std::string s = data;
            py::gil_scoped_release release;
            safu::ModelFile f = safu::ModelFile::from_bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size());
            return std::make_shared<safu::LmModel>(f);
          },
          py::arg("data"))
      .def_property_readonly("vocab_size", &safu::LmModel::vocab_size)
      .def_property_readonly("block_size", &safu::LmModel::block_size)
      .def_property_readonly("radius", &safu::LmModel::radius)
      .def_property_readonly("doc_groups", &safu::LmModel::doc_groups)
      .def_property_readonly("memory_bytes", &safu::LmModel::memory_bytes)
      .def("stream", [](std::shared_ptr<safu::LmModel> self) { return std::make_unique<PyLmStream>(self); },
           "A new streaming state at the start of a document.")
      .def(
          "all_logprobs",
          [](std::shared_ptr<safu::LmModel> self, const IdArray& ids) {
            std::vector<int32_t> v = checked_ids(ids, self->vocab_size());
            size_t N = self->vocab_size();
            py::array_t<float> out({py::ssize_t(v.size() + 1), py::ssize_t(N)});
            float* o = out.mutable_data();
            {
              py::gil_scoped_release release;
              safu::LmStream s(*self);
              for (size_t i = 0; i <= v.size(); ++i) {
                std::memcpy(o + i * N, s.logprobs(), N * sizeof(float));
                if (i < v.size()) s.feed(v[i]);
              }
            }
            return out;
          },
          py::arg("ids"), "Log-probabilities (n + 1, N) of the targets s_1..s_n, <eod> of one document.");

  py::class_<safu::SplitMix64>(m, "SplitMix64", "The sampler's RNG (docs/lm_model.md), same sequence as numpy's.")
      .def(py::init<uint64_t>(), py::arg("seed"))
      .def("next", &safu::SplitMix64::next)
      .def("uniform", &safu::SplitMix64::uniform)
      .def_property_readonly("state", &safu::SplitMix64::state);
  m.def(
      "pick",
      [](py::array_t<float, py::array::c_style | py::array::forcecast> logp, safu::SplitMix64* rng,
         double temperature, size_t top_k, bool greedy) {
        if (logp.ndim() != 1) throw safu::ShapeError("pick: logp must be 1-D");
        size_t n = size_t(logp.shape(0));
        if (greedy) return safu::sample_greedy(logp.data(), n);
        if (!rng) throw safu::ShapeError("pick: sampling needs an rng (or greedy=True)");
        return safu::sample_pick(logp.data(), n, *rng, temperature, top_k);
      },
      py::arg("logp"), py::arg("rng"), py::arg("temperature") = 1.0, py::arg("top_k") = 0, py::arg("greedy") = false,
      "Next id from log-probabilities, as safu.models.sampler.pick.");

  py::class_<PyLmStream>(m, "LmStream", "Constant-cost-per-token scoring state.")
      .def("reset", [](PyLmStream& s) { s.stream.reset(); })
      .def("feed", [](PyLmStream& s, int64_t t) {
             if (t < 0 || t >= int64_t(s.model->vocab_size()))
               throw safu::ShapeError("feed: id " + std::to_string(t) + " is outside the vocabulary");
             s.stream.feed(int32_t(t));
           }, py::arg("token"))
      .def("logprobs",
           [](PyLmStream& s) {
             size_t N = s.model->vocab_size();
             py::array_t<float> out{py::ssize_t(N)};
             std::memcpy(out.mutable_data(), s.stream.logprobs(), N * sizeof(float));
             return out;
           })
      .def_property_readonly("position", [](const PyLmStream& s) { return s.stream.position(); })
      .def(
          "feed_many",
          [](PyLmStream& s, const IdArray& ids) {
            std::vector<int32_t> v = checked_ids(ids, s.model->vocab_size());
            py::gil_scoped_release release;
            for (int32_t t : v) s.stream.feed(t);
          },
          py::arg("ids"), "Feeds the ids without scoring them.")
      .def(
          "score",
          [](PyLmStream& s, const IdArray& ids) {
            std::vector<int32_t> v = checked_ids(ids, s.model->vocab_size());
            double total = 0.0;
            py::gil_scoped_release release;
            for (int32_t t : v) {
              total += double(s.stream.logprobs()[t]);
              s.stream.feed(t);
            }
            return total;
          },
          py::arg("ids"), "Feeds the ids one by one, scoring each before it is fed; returns the summed log p.");
}

}  // namespace safu_py
