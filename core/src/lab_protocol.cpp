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

bool read_expectation(const json& j, LabExpectation& out, std::string& err) {
    if (!j.is_object()) {
        err = "an expectation is not an object";
        return false;
    }
    std::optional<bool> absent;
    if (!get_port(j, "local_port", out.local_port, err) ||
        !get_port(j, "remote_port", out.remote_port, err) ||
        !get_string(j, "state", out.state, err) || !get_bool(j, "absent", absent, err))
        return false;
    out.absent = absent.value_or(false);
    return true;
}

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
    long long step = 0, steps = 0;
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
                 if (!get_string(x, "state", s.state, err) ||
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

std::string write_predict_line(int step, const LabPredict& p) {
    const json j{{"event", "predict"},
                 {"step", step},
                 {"predict", {{"question", p.question}, {"choices", p.choices}}}};
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string write_answer_line(int step, const LabAnswer& a) {
    json j{{"event", "answer"}, {"step", step}, {"answer", a.answer}, {"correct", a.correct}};
    j["picked"] = a.picked ? json(*a.picked) : json(nullptr);
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
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
