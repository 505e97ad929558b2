// cpp/bindings/intent_model_py.cpp - safu._core.IntentModel.
//
//   m = _core.IntentModel("home.safu")
//   p_intent, p_slot = m.forward(np.array([7, 9, 4]))   # float32 (C,), (n, S)
//   m.predict("turn on the kitchen lights")
//   # {"intent": "HassTurnOn" | None, "best_intent": ..., "reason": None | str, "truncated": bool,
//   #  "confidence": 0.93,
//   #  "slots": {"area": "kitchen"}, "spans": [{"name", "value", "text", "start", "end"}]}
//   (span start/end are character offsets into the Python str)
//   m.bind_result_types(Prediction, SlotSpan); m.predict_result("...")   # the public API's call
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <structmember.h>  // T_OBJECT_EX, READONLY: the members of a __slots__ class

#include <chrono>
#include <memory>

#include "bindings.h"
#include "safu/errors.h"
#include "safu/intent_model.h"
#include "workspace_pool.h"

namespace py = pybind11;

namespace safu_py {
namespace {

class PyIntentModel {
 public:
  PyIntentModel(safu::IntentModel model, std::string path)
      : model_(new safu::IntentModel(std::move(model))), pool_(*model_), path_(std::move(path)) {
    for (const std::string& s : model_->intent_labels()) intent_strs_.push_back(py::str(s));
    for (const std::string& s : model_->slot_names()) slot_strs_.push_back(py::str(s));
  }

  const safu::IntentModel& model() const { return *model_; }
  const std::string& path() const { return path_; }

  py::tuple forward(py::array_t<int64_t, py::array::c_style | py::array::forcecast> ids) {
    if (ids.ndim() != 1)
      throw safu::ShapeError("forward: ids must be 1-D, got " + std::to_string(ids.ndim()) + " dimensions");
    size_t n = size_t(ids.shape(0));
    std::vector<int32_t> ids32(n);
    const int64_t* src = ids.data();
    for (size_t i = 0; i < n; ++i) {
      if (src[i] < 0 || src[i] >= int64_t(model_->vocab_size()))
        throw safu::ShapeError("forward: id " + std::to_string(src[i]) + " at position " + std::to_string(i) +
                               " is outside the vocabulary [0, " + std::to_string(model_->vocab_size()) + ")");
      ids32[i] = int32_t(src[i]);
    }
    py::array_t<float> p_intent(py::ssize_t(model_->n_intents()));
    py::array_t<float> p_slot({py::ssize_t(n), py::ssize_t(model_->n_slot_labels())});
    float* pi = p_intent.mutable_data();
    float* ps = p_slot.mutable_data();
    {
      py::gil_scoped_release release;
      auto lease = pool_.take();
      model_->forward(ids32.data(), n, *lease, pi, ps);
    }
    return py::make_tuple(p_intent, p_slot);
  }

  py::dict predict(const std::string& text) {
    safu::Prediction p = core_predict(text);
    py::dict out;
    out["intent"] = p.has_intent ? py::object(py::str(p.intent)) : py::object(py::none());
    out["best_intent"] = p.intent.empty() ? py::object(py::none()) : py::object(py::str(p.intent));
    out["reason"] = p.has_intent ? py::object(py::none()) : py::object(py::str(p.reason));
    out["truncated"] = p.truncated;
    out["confidence"] = double(p.confidence);
    py::dict slots;
    py::list spans;
    for (const safu::SlotSpan& s : p.spans) {
      slots[py::str(s.name)] = s.value;
      py::dict d;
      d["name"] = s.name;
      d["value"] = s.value;
      d["text"] = s.text;
      d["start"] = char_offset(text, s.start);
      d["end"] = char_offset(text, s.end);
      spans.append(d);
    }
    out["slots"] = slots;
    out["spans"] = spans;
    return out;
  }

  // The classes predict_result builds: dataclasses with exactly these fields, in this order, and
  // no __post_init__ (their fields are set directly, __init__ is not run).
  void bind_result_types(const py::type& prediction, const py::type& span) {
    check_result_type(prediction, kPredictionFields, "prediction");
    check_result_type(span, kSpanFields, "span");
    prediction_type_ = prediction;
    span_type_ = span;
    if (prediction_names_.empty()) {  // interned, as attribute names are (else each set interns them)
      for (const char* f : kPredictionFields) prediction_names_.push_back(interned(f));
      for (const char* f : kSpanFields) span_names_.push_back(interned(f));
    }
    prediction_slots_ = slot_offsets(prediction, prediction_names_);
    span_slots_ = slot_offsets(span, span_names_);
  }

  // predict() as the public API's Prediction (the classes of bind_result_types): the same values as
  // Prediction(text, intent, confidence, slots, spans, reason, best_intent, truncated), built with
  // the model's intent and slot names as shared str objects and no Python code run.
  py::object predict_result(const py::handle& text) {
    if (!PyUnicode_Check(text.ptr()))
      throw py::type_error(std::string("predict expects a str, got ") + Py_TYPE(text.ptr())->tp_name);
    if (!prediction_type_) throw std::runtime_error("predict_result: call bind_result_types first");
    Py_ssize_t size = 0;
    const char* utf8 = PyUnicode_AsUTF8AndSize(text.ptr(), &size);
    if (!utf8) throw py::error_already_set();
    std::string bytes(utf8, size_t(size));
    bool ascii = PyUnicode_IS_ASCII(text.ptr());  // then character offsets are byte offsets
    safu::Prediction p = core_predict(bytes);
    py::object none = py::none();
    py::object intent = p.intent_index < 0 ? none : intent_strs_[size_t(p.intent_index)];
    py::dict slots;
    py::list spans(p.spans.size());
    for (size_t i = 0; i < p.spans.size(); ++i) {
      const safu::SlotSpan& s = p.spans[i];
      py::object span = new_instance(span_type_);
      py::str value(s.value);
      const py::object& name = slot_strs_[size_t(s.slot)];
      slots[name] = value;
      size_t start = ascii ? s.start : char_offset(bytes, s.start), end = ascii ? s.end : char_offset(bytes, s.end);
      set_fields(span, span_names_, span_slots_, {name, value, py::str(s.text), py::int_(start), py::int_(end)});
      PyList_SET_ITEM(spans.ptr(), Py_ssize_t(i), span.release().ptr());
    }
    py::object out = new_instance(prediction_type_);
    set_fields(out, prediction_names_, prediction_slots_,
               {py::reinterpret_borrow<py::object>(text), p.has_intent ? intent : none, py::float_(double(p.confidence)),
                std::move(slots), std::move(spans), p.has_intent ? none : py::object(py::str(p.reason)), intent,
                py::bool_(p.truncated)});
    return out;
  }

  // Mean nanoseconds per predict() over `repeats` passes through `texts`, timed inside C++ with
  // the GIL released (no Python call overhead): the core's own per-utterance latency.
  double bench_predict(const std::vector<std::string>& texts, int repeats) {
    if (texts.empty() || repeats < 1) throw safu::ShapeError("bench_predict: need texts and repeats >= 1");
    py::gil_scoped_release release;
    auto lease = pool_.take();
    size_t sink = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < repeats; ++r)
      for (const std::string& t : texts) sink += model_->predict(t, *lease).spans.size();
    auto t1 = std::chrono::steady_clock::now();
    volatile size_t keep = sink;
    (void)keep;
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / double(texts.size() * size_t(repeats));
  }

  py::array_t<int32_t> encode(const std::string& text) {
    auto lease = pool_.take();
    std::vector<int32_t> ids;
    model_->encode(text, *lease, &ids);
    py::array_t<int32_t> out(py::ssize_t(ids.size()));
    std::copy(ids.begin(), ids.end(), out.mutable_data());
    return out;
  }

 private:
  // The core's predict on a pooled workspace, the GIL released meanwhile.
  safu::Prediction core_predict(const std::string& text) {
    py::gil_scoped_release release;
    auto lease = pool_.take();
    return model_->predict(text, *lease);
  }

  static constexpr const char* kPredictionFields[] = {"text", "intent", "confidence", "slots",
                                                      "spans", "reason", "best_intent", "truncated"};
  static constexpr const char* kSpanFields[] = {"name", "value", "text", "start", "end"};

  template <size_t N>
  static void check_result_type(const py::type& cls, const char* const (&fields)[N], const char* what) {
    std::string want, got;
    for (const char* f : fields) want += (want.empty() ? "" : ", ") + std::string(f);
    if (py::hasattr(cls, "__dataclass_fields__"))
      for (auto item : py::dict(cls.attr("__dataclass_fields__"))) got += (got.empty() ? "" : ", ") + std::string(py::str(item.first));
    if (got != want || py::hasattr(cls, "__post_init__"))
      throw py::type_error("bind_result_types: the " + std::string(what) + " class must be a dataclass with the fields (" +
                           want + ") and no __post_init__, got " + std::string(py::str(cls)) + " with (" + got + ")");
  }

  static py::object interned(const char* s) {
    PyObject* o = PyUnicode_InternFromString(s);
    if (!o) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(o);
  }

  // An instance of `cls` from its tp_new alone (object.__new__(cls)): its fields are set next.
  static py::object new_instance(const py::object& cls) {
    PyTypeObject* tp = reinterpret_cast<PyTypeObject*>(cls.ptr());
    static PyObject* no_args = PyTuple_New(0);
    PyObject* obj = tp->tp_new(tp, no_args, nullptr);
    if (!obj) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(obj);
  }

  // Where each field of a __slots__ class lives in its instances (its member descriptors' offsets);
  // empty when a field is not such a slot (then fields are set by attribute).
  static std::vector<Py_ssize_t> slot_offsets(const py::object& cls, const std::vector<py::object>& names) {
    std::vector<Py_ssize_t> out;
    PyObject* dict = reinterpret_cast<PyTypeObject*>(cls.ptr())->tp_dict;
    for (const py::object& name : names) {
      PyObject* d = dict ? PyDict_GetItemWithError(dict, name.ptr()) : nullptr;  // borrowed
      if (!d || !Py_IS_TYPE(d, &PyMemberDescr_Type)) return {};
      PyMemberDef* m = reinterpret_cast<PyMemberDescrObject*>(d)->d_member;
      if (m->type != T_OBJECT_EX || (m->flags & READONLY)) return {};
      out.push_back(m->offset);
    }
    return out;
  }

  // The fields of a fresh instance: stored in its slots (the instance owns the references, as a
  // slot's setter would leave them) or set by attribute.
  static void set_fields(const py::object& obj, const std::vector<py::object>& names, const std::vector<Py_ssize_t>& slots,
                         std::initializer_list<py::object> values) {
    size_t k = 0;
    if (!slots.empty()) {
      for (const py::object& v : values) {
        PyObject** slot = reinterpret_cast<PyObject**>(reinterpret_cast<char*>(obj.ptr()) + slots[k++]);
        Py_XSETREF(*slot, v.inc_ref().ptr());
      }
      return;
    }
    for (const py::object& v : values)
      if (PyObject_SetAttr(obj.ptr(), names[k++].ptr(), v.ptr()) != 0) throw py::error_already_set();
  }

  // Number of code points before byte offset `b` of the UTF-8 text.
  static size_t char_offset(const std::string& text, size_t b) {
    size_t n = 0;
    for (size_t i = 0; i < b && i < text.size(); ++i) n += (static_cast<unsigned char>(text[i]) & 0xC0u) != 0x80u;
    return n;
  }

  std::unique_ptr<safu::IntentModel> model_;
  WorkspacePool<safu::IntentModel, safu::IntentWorkspace> pool_;
  std::string path_;
  std::vector<py::object> intent_strs_, slot_strs_;  // the model's names as str, shared by every result
  py::object prediction_type_, span_type_;           // set by bind_result_types
  std::vector<py::object> prediction_names_, span_names_;  // interned field names
  std::vector<Py_ssize_t> prediction_slots_, span_slots_;  // their slot offsets (empty: set by attribute)
};

// predict_result as a builtin function bound to one model (METH_O: no pybind11 argument handling
// per call), the public API's predictor. The function holds a reference to the model.
PyObject* fast_predict(PyObject* capsule, PyObject* text) {
  auto* model = static_cast<PyIntentModel*>(PyCapsule_GetPointer(capsule, "safu._core.IntentModel"));
  if (!model) return nullptr;
  try {
    return model->predict_result(py::handle(text)).release().ptr();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const py::builtin_exception& e) {
    e.set_error();
  } catch (const safu::Error& e) {  // the module's FormatError / ShapeError / IoError, as pybind11 maps them
    py::object mod = py::module_::import("safu._core");
    const char* kind = dynamic_cast<const safu::FormatError*>(&e)  ? "FormatError"
                       : dynamic_cast<const safu::ShapeError*>(&e) ? "ShapeError"
                                                                    : "IoError";
    PyErr_SetString(mod.attr(kind).ptr(), e.what());
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

PyMethodDef fast_predict_def = {"predict", fast_predict, METH_O,
                                "predict_result(text) of the model this function is bound to."};

}  // namespace

void bind_intent_model(py::module_& m) {
  using M = PyIntentModel;
  py::class_<M>(m, "IntentModel", "The intent model of docs/intent_model.md, run by the C++ core.")
      .def(py::init([](const std::string& path) {
             py::gil_scoped_release release;
             return std::make_unique<M>(safu::IntentModel::load(path), path);
           }),
           py::arg("path"), "Loads a kind-'intent' .safu file; raises FormatError/ShapeError/IoError.")
      .def_static(
          "from_bytes",
          [](const py::bytes& data, const std::string& source) {
            char* bytes = nullptr;
            Py_ssize_t size = 0;
            if (PyBytes_AsStringAndSize(data.ptr(), &bytes, &size) != 0) throw py::error_already_set();
            py::gil_scoped_release release;  // `data` is immutable and referenced by the caller
            safu::ModelFile f =
                safu::ModelFile::from_bytes(reinterpret_cast<const uint8_t*>(bytes), size_t(size), source);
            return std::make_unique<M>(safu::IntentModel(f), source);
          },
          py::arg("data"), py::arg("source") = "<bytes>",
          "Loads a file image held in memory; `source` names it in errors and in .path.")
      .def("forward", &M::forward, py::arg("ids"),
           "(p_intent float32 (C,), p_slot float32 (n, S)) for token ids (any integer dtype, 1-D).")
      .def("predict", &M::predict, py::arg("text"),
           "Dict with the keys of safu.runtime.api.Prediction.to_dict() except text.")
      .def("bind_result_types", &M::bind_result_types, py::arg("prediction"), py::arg("span"),
           "The dataclasses predict_result builds (safu.runtime.api.Prediction and SlotSpan).")
      .def("predict_result", &M::predict_result, py::arg("text"),
           "predict() as the bound Prediction class, built in C++.")
      .def_property_readonly(
          "fast_predict",
          [](py::object self) {
            M& model = self.cast<M&>();
            PyObject* cap = PyCapsule_New(&model, "safu._core.IntentModel", [](PyObject* c) {
              Py_XDECREF(static_cast<PyObject*>(PyCapsule_GetContext(c)));
            });
            if (!cap) throw py::error_already_set();
            py::object capsule = py::reinterpret_steal<py::object>(cap);
            if (PyCapsule_SetContext(cap, self.inc_ref().ptr()) != 0) throw py::error_already_set();
            PyObject* f = PyCFunction_New(&fast_predict_def, cap);
            if (!f) throw py::error_already_set();
            return py::reinterpret_steal<py::object>(f);
          },
          "predict_result as a builtin function bound to this model (the public API's call: the "
          "least work per call).")
      .def("bench_predict", &M::bench_predict, py::arg("texts"), py::arg("repeats") = 100,
           "Mean ns per predict(), timed inside C++ (benchmarks only).")
      .def("encode", &M::encode, py::arg("text"), "Token ids (int32) of the first max_tokens tokens.")
      .def_property_readonly("path", &M::path)
      .def_property_readonly("intents", [](const M& s) { return s.model().intent_labels(); })
      .def_property_readonly("slot_labels", [](const M& s) { return s.model().slot_labels(); })
      .def_property_readonly("slot_names", [](const M& s) { return s.model().slot_names(); })
      .def_property_readonly("threshold", [](const M& s) { return s.model().threshold(); })
      .def_property_readonly("vocab_size", [](const M& s) { return s.model().vocab_size(); })
      .def_property_readonly("dim", [](const M& s) { return s.model().dim(); })
      .def_property_readonly("max_tokens", [](const M& s) { return s.model().max_tokens(); })
      .def_property_readonly("slot_radius", [](const M& s) { return s.model().slot_radius(); })
      .def_property_readonly("bigram_buckets", [](const M& s) { return s.model().bigram_buckets(); })
      .def_property_readonly("memory_bytes", [](const M& s) { return s.model().memory_bytes(); })
      .def_property_readonly("metadata", [](const M& s) { return s.model().metadata_strings(); });
}

}  // namespace safu_py
