#include "socklab/lab_protocol.hpp"

#include <nlohmann/json.hpp>

#include "socklab/error.hpp"
#include "socklab/json.hpp"

namespace socklab {
namespace {

using nlohmann::json;

// Field readers: absent is fine (default kept), present with the wrong type is an error.
bool get_string(const json& j, const char* name, std::string& out, std::string& err) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) return true;
    if (!it->is_string()) {
        err = std::string("field '") + name + "' is not a string";
        return false;
    }
    out = it->get<std::string>();
    return true;
}

bool get_int(const json& j, const char* name, long long lo, long long hi, long long& out,
             std::string& err) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) return true;
    if (!it->is_number_integer()) {
        err = std::string("field '") + name + "' is not a whole number";
        return false;
    }
    const long long v = it->is_number_unsigned()
                            ? static_cast<long long>(std::min<std::uint64_t>(
                                  it->get<std::uint64_t>(), static_cast<std::uint64_t>(hi) + 1))
                            : it->get<long long>();
    if (v < lo || v > hi) {
        err = std::string("field '") + name + "' is out of range";
        return false;
    }
    out = v;
    return true;
}

bool get_port(const json& j, const char* name, std::uint16_t& out, std::string& err) {
    long long v = out;
    if (!get_int(j, name, 0, 65535, v, err)) return false;
    out = static_cast<std::uint16_t>(v);
    return true;
}

bool get_bool(const json& j, const char* name, std::optional<bool>& out, std::string& err) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) return true;
    if (!it->is_boolean()) {
        err = std::string("field '") + name + "' is not true/false";
        return false;
    }
    out = it->get<bool>();
    return true;
}

bool get_u32(const json& j, const char* name, std::uint32_t& out, std::string& err) {
    long long v = out;
    if (!get_int(j, name, 0, 0xffffffffLL, v, err)) return false;
    out = static_cast<std::uint32_t>(v);
    return true;
}

bool get_opt_u32(const json& j, const char* name, std::optional<std::uint32_t>& out,
                 std::string& err) {
    if (auto it = j.find(name); it == j.end() || it->is_null()) return true;
    std::uint32_t v = 0;
    if (!get_u32(j, name, v, err)) return false;
    out = v;
    return true;
}

bool get_proto(const json& j, std::string& out, std::string& err) {
    if (!get_string(j, "proto", out, err)) return false;
    if (out != "tcp" && out != "udp") {
        err = "field 'proto' is neither \"tcp\" nor \"udp\"";
        return false;
    }
    return true;
}

bool read_expectation(const json& j, LabExpectation& out, std::string& err) {
    if (!j.is_object()) {
        err = "an expectation is not an object";
        return false;
    }
    std::optional<bool> absent, kernel_only;
    if (!get_proto(j, out.proto, err) || !get_port(j, "local_port", out.local_port, err) ||
        !get_port(j, "remote_port", out.remote_port, err) ||
        !get_string(j, "state", out.state, err) || !get_bool(j, "absent", absent, err) ||
        !get_opt_u32(j, "recv_q", out.recv_q, err) || !get_opt_u32(j, "send_q", out.send_q, err) ||
        !get_u32(j, "min_recv_q", out.min_recv_q, err) ||
        !get_u32(j, "min_send_q", out.min_send_q, err) || !get_u32(j, "count", out.count, err) ||
        !get_bool(j, "kernel_only", kernel_only, err))
        return false;
    out.absent = absent.value_or(false);
    out.kernel_only = kernel_only.value_or(false);
    return true;
}

json expectation_json(const LabExpectation& e) {
    json j{{"proto", e.proto},
           {"local_port", e.local_port},
           {"remote_port", e.remote_port},
           {"state", e.state}};
    if (e.absent) j["absent"] = true;
    if (e.recv_q) j["recv_q"] = *e.recv_q;
    if (e.send_q) j["send_q"] = *e.send_q;
    if (e.min_recv_q) j["min_recv_q"] = e.min_recv_q;
    if (e.min_send_q) j["min_send_q"] = e.min_send_q;
    if (e.count) j["count"] = e.count;
    if (e.kernel_only) j["kernel_only"] = true;
    return j;
}

std::string line_of(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

template <typename F>
bool each(const json& j, const char* name, std::string& err, F&& fn) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) return true;
    if (!it->is_array()) {
        err = std::string("field '") + name + "' is not a list";
        return false;
    }
    for (const auto& item : *it)
        if (!fn(item)) return false;
    return true;
}

constexpr long long kMaxChoices = 16;

// The predict-mode fields: "predict" (the question), "answer"/"picked"/"correct" (after the
// step), "questions"/"predicted" (the score on "done"). A choice number is 1..choices.
bool read_predict_fields(const json& j, LabEvent& ev, std::string& err) {
    if (auto it = j.find("predict"); it != j.end() && !it->is_null()) {
        if (!it->is_object()) {
            err = "field 'predict' is not an object";
            return false;
        }
        LabPredict p;
        if (!get_string(*it, "question", p.question, err)) return false;
        const bool ok = each(*it, "choices", err, [&](const json& c) {
            if (!c.is_string()) {
                err = "a choice is not a string";
                return false;
            }
            if (static_cast<long long>(p.choices.size()) >= kMaxChoices) {
                err = "field 'choices' has too many entries";
                return false;
            }
            p.choices.push_back(c.get<std::string>());
            return true;
        });
        if (!ok) return false;
        if (p.choices.empty()) {
            err = "field 'predict' has no choices";
            return false;
        }
        ev.predict = std::move(p);
    }
    if (auto it = j.find("answer"); it != j.end() && !it->is_null()) {
        LabAnswer a;
        long long answer = 0, picked = 0;
        std::optional<bool> correct;
        if (!get_int(j, "answer", 1, kMaxChoices, answer, err) ||
            !get_bool(j, "correct", correct, err))
            return false;
        if (auto p = j.find("picked"); p != j.end() && !p->is_null()) {
            if (!get_int(j, "picked", 1, kMaxChoices, picked, err)) return false;
            a.picked = static_cast<int>(picked);
        }
        a.answer = static_cast<int>(answer);
        a.correct = correct.value_or(false);
        if (a.correct && a.picked != a.answer) {
            err = "field 'correct' is true but 'picked' is not the answer";
            return false;
        }
        ev.answer = a;
    }
    long long questions = -1, predicted = -1;
    if (!get_int(j, "questions", 0, 1'000'000, questions, err) ||
        !get_int(j, "predicted", 0, 1'000'000, predicted, err))
        return false;
    if (questions >= 0) ev.questions = static_cast<int>(questions);
    if (predicted >= 0) ev.predicted = static_cast<int>(predicted);
    if (ev.predicted && ev.questions && *ev.predicted > *ev.questions) {
        err = "field 'predicted' is more than 'questions'";
        return false;
    }
    return true;
}

LabEventKind kind_of(std::string_view e) noexcept {
    if (e == "lab") return LabEventKind::lab;
    if (e == "step") return LabEventKind::step;
    if (e == "waiting") return LabEventKind::waiting;
    if (e == "observed") return LabEventKind::observed;
    if (e == "done") return LabEventKind::done;
    if (e == "note") return LabEventKind::note;
    if (e == "message") return LabEventKind::message;
    if (e == "predict") return LabEventKind::predict;
    if (e == "answer") return LabEventKind::answer;
    return LabEventKind::other;
}

LabParseResult parse_object(const json& j) {
    LabParseResult r;
    if (!j.is_object()) {
        r.error = "the line is not a JSON object";
        return r;
    }
    LabEvent ev;
    auto it = j.find("event");
    if (it == j.end() || !it->is_string()) {
        r.error = "the line has no \"event\" name";
        return r;
    }
    ev.event = it->get<std::string>();
    ev.kind = kind_of(ev.event);
    std::string& err = r.error;
    long long step = 0, steps = 0, number = 0;
    std::optional<bool> final;
    if (!get_int(j, "number", 0, 1'000'000, number, err) || !get_string(j, "role", ev.role, err) ||
        !get_bool(j, "tracing", ev.tracing, err) || !get_bool(j, "capturing", ev.capturing, err) ||
        !get_bool(j, "final", final, err) || !get_string(j, "stopped", ev.stopped, err) ||
        !get_string(j, "message", ev.message, err) || !get_string(j, "from", ev.from, err) ||
        !get_string(j, "call_problem", ev.call_problem, err))
        return r;
    ev.number = static_cast<int>(number);
    ev.final = final.value_or(false);
    if (!get_string(j, "lab", ev.lab, err) || !get_string(j, "title", ev.title, err) ||
        !get_string(j, "call", ev.call, err) || !get_string(j, "result", ev.result, err) ||
        !get_string(j, "explain", ev.explain, err) || !get_string(j, "text", ev.text, err) ||
        !get_int(j, "step", 0, 1'000'000, step, err) ||
        !get_int(j, "steps", 0, 1'000'000, steps, err) || !get_port(j, "port", ev.port, err) ||
        !get_bool(j, "ok", ev.ok, err))
        return r;
    ev.step = static_cast<int>(step);
    ev.steps = static_cast<int>(steps);
    const bool lists_ok =
        each(j, "expect", err,
             [&](const json& x) {
                 LabExpectation e;
                 if (!read_expectation(x, e, err)) return false;
                 ev.expect.push_back(std::move(e));
                 return true;
             }) &&
        each(j, "transitions", err,
             [&](const json& x) {
                 // Free-form: a string ("ESTABLISHED -> FIN_WAIT1") or an object; kept as text.
                 ev.transitions.push_back(x.is_string() ? x.get<std::string>() : x.dump());
                 return true;
             }) &&
        each(j, "sockets", err,
             [&](const json& x) {
                 if (!x.is_object()) {
                     err = "a socket is not an object";
                     return false;
                 }
                 LabSocket s;
                 if (!get_string(x, "proto", s.proto, err) ||
                     !get_u32(x, "recv_q", s.recv_q, err) || !get_u32(x, "send_q", s.send_q, err) ||
                     !get_string(x, "state", s.state, err) ||
                     !get_string(x, "local_addr", s.local_addr, err) ||
                     !get_port(x, "local_port", s.local_port, err) ||
                     !get_string(x, "remote_addr", s.remote_addr, err) ||
                     !get_port(x, "remote_port", s.remote_port, err))
                     return false;
                 ev.sockets.push_back(std::move(s));
                 return true;
             }) &&
        each(j, "segments", err,
             [&](const json& x) {
                 try {
                     ev.segments.push_back(segment_from_json(x));
                 } catch (const ParseError& e) {
                     err = e.what();
                     return false;
                 }
                 return true;
             }) &&
        each(j, "checks", err, [&](const json& x) {
            if (!x.is_object()) {
                err = "a check is not an object";
                return false;
            }
            LabCheck c;
            std::optional<bool> ok;
            if (auto e = x.find("expect"); e != x.end() && !read_expectation(*e, c.expect, err))
                return false;
            if (!get_bool(x, "ok", ok, err)) return false;
            c.ok = ok.value_or(false);
            ev.checks.push_back(std::move(c));
            return true;
        });
    if (!lists_ok) return r;
    if (!read_predict_fields(j, ev, err)) return r;
    r.event = std::move(ev);
    return r;
}

}  // namespace

std::string_view lab_event_name(LabEventKind k) noexcept {
    switch (k) {
        case LabEventKind::lab: return "lab";
        case LabEventKind::step: return "step";
        case LabEventKind::waiting: return "waiting";
        case LabEventKind::observed: return "observed";
        case LabEventKind::done: return "done";
        case LabEventKind::note: return "note";
        case LabEventKind::message: return "message";
        case LabEventKind::predict: return "predict";
        case LabEventKind::answer: return "answer";
        case LabEventKind::other: return "other";
    }
    return "other";
}

bool describes(const LabExpectation& e, const SocketRecord& r) noexcept {
    return proto_name(r.proto) == e.proto && r.local_port == e.local_port &&
           r.remote_port == e.remote_port && r.state_name() == e.state &&
           (!e.kernel_only || r.inode == 0) && (!e.recv_q || r.recv_q == *e.recv_q) &&
           (!e.send_q || r.send_q == *e.send_q) && r.recv_q >= e.min_recv_q &&
           r.send_q >= e.min_send_q;
}

std::string write_lab_line(const LabHeader& h) {
    return line_of({{"event", "lab"},
                    {"lab", h.lab},
                    {"number", h.number},
                    {"title", h.title},
                    {"steps", h.steps},
                    {"port", h.port},
                    {"role", h.role},
                    {"tracing", h.tracing},
                    {"capturing", h.capturing}});
}

std::string write_step_line(const LabStepLine& s) {
    json expect = json::array();
    for (const auto& e : s.expect) expect.push_back(expectation_json(e));
    json j{{"event", "step"}, {"lab", s.lab},         {"step", s.step},
           {"steps", s.steps}, {"title", s.title},     {"call", s.call},
           {"result", s.result}, {"explain", s.explain}, {"expect", std::move(expect)}};
    if (s.transitions) {
        json t = json::array();
        for (const auto& ev : *s.transitions) t.push_back(to_json(ev));
        j["transitions"] = std::move(t);
    }
    return line_of(j);
}

std::string write_observed_line(const LabObservedLine& o) {
    json sockets = json::array();
    for (const auto& s : o.sockets) sockets.push_back(to_json(s.record, s.owners));
    json checks = json::array();
    for (const auto& c : o.checks) checks.push_back({{"expect", expectation_json(c.expect)}, {"ok", c.ok}});
    json j{{"event", "observed"}, {"step", o.step}, {"sockets", std::move(sockets)},
           {"ok", o.ok}, {"checks", std::move(checks)}};
    if (o.segments) {
        json segs = json::array();
        for (const auto& seg : *o.segments) segs.push_back(to_json(seg));
        j["segments"] = std::move(segs);
    }
    if (!o.call_problem.empty()) j["call_problem"] = o.call_problem;
    return line_of(j);
}

std::string write_waiting_line(int step, bool final) {
    json j{{"event", "waiting"}, {"step", step}};
    if (final) j["final"] = true;
    return line_of(j);
}

std::string write_note_line(int step, std::string_view text) {
    return line_of({{"event", "note"}, {"step", step}, {"text", std::string(text)}});
}

std::string write_message_line(std::string_view from, std::string_view text) {
    return line_of({{"event", "message"}, {"from", std::string(from)}, {"text", std::string(text)}});
}

std::string write_done_line(const LabDone& d) {
    json j{{"event", "done"}, {"lab", d.lab}, {"ok", d.ok}};
    if (!d.stopped.empty()) j["stopped"] = d.stopped;
    if (!d.message.empty()) j["message"] = d.message;
    if (d.questions) j["questions"] = *d.questions;
    if (d.predicted) j["predicted"] = *d.predicted;
    return line_of(j);
}

std::string write_predict_line(int step, const LabPredict& p) {
    return line_of({{"event", "predict"},
                    {"step", step},
                    {"predict", {{"question", p.question}, {"choices", p.choices}}}});
}

std::string write_answer_line(int step, const LabAnswer& a) {
    json j{{"event", "answer"}, {"step", step}, {"answer", a.answer}, {"correct", a.correct}};
    j["picked"] = a.picked ? json(*a.picked) : json(nullptr);
    return line_of(j);
}

LabParseResult parse_lab_line(std::string_view line) noexcept {
    try {
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
        if (line.empty()) return {std::nullopt, "empty line"};
        json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded()) return {std::nullopt, "the line is not valid JSON"};
        return parse_object(j);
    } catch (const std::exception& e) {
        // Only allocation failure or a library surprise gets here: still a value, not a crash.
        return {std::nullopt, std::string("failed to read lab line: ") + e.what()};
    }
}

namespace {

LabListResult read_lab_list(std::string_view text) {
    LabListResult r;
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_array()) {
        r.error = "the lab list is not a JSON list";
        return r;
    }
    for (const auto& x : j) {
        if (!x.is_object()) {
            r.error = "a lab in the list is not an object";
            return r;
        }
        LabInfo info;
        long long number = 0;
        if (!get_string(x, "id", info.id, r.error) ||
            !get_string(x, "title", info.title, r.error) ||
            !get_string(x, "summary", info.summary, r.error) ||
            !get_int(x, "number", 0, 1'000'000, number, r.error) ||
            !get_port(x, "default_port", info.default_port, r.error))
            return r;
        if (info.id.empty()) {
            r.error = "a lab in the list has no id";
            return r;
        }
        info.number = static_cast<int>(number);
        r.labs.push_back(std::move(info));
    }
    return r;
}

}  // namespace

LabListResult parse_lab_list(std::string_view text) noexcept {
    LabListResult r;
    try {
        r = read_lab_list(text);
    } catch (const std::exception& e) {
        r.error = std::string("failed to read the lab list: ") + e.what();
    }
    // A list with a bad entry is an error as a whole: never a partial list next to the error.
    if (!r.error.empty()) r.labs.clear();
    return r;
}

}  // namespace socklab
