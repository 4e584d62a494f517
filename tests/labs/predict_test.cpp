// Predict mode (--predict): real labs on the real kernel, in private network namespaces. Each
// question's right choice must be the step's own expectations, the table the lab observed must
// agree with it, a wrong pick must be scored wrong, the question must not give the answer
// away, and the terminal must ask again on a bad entry and print the score.
#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lab_child.hpp"
#include "socklab/lab_protocol.hpp"
#include "testsupport.hpp"

namespace socklab::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string lab_bin(std::string_view id) { return bin("socklab-lab-" + std::string(id)); }

std::vector<json> lines_of(const std::string& out) {
    std::vector<json> v;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) v.push_back(json::parse(line));
    return v;
}

// The word for one expectation as a choice shows it: "STATE" or "no STATE".
std::string item_state(const json& e) {
    return (e.value("absent", false) ? "no " : "") + e.at("state").get<std::string>();
}

struct PredictRun {
    int questions = 0;
    int correct = 0;
    int wrong_picks_seen = 0;
};

// Checks one --auto --predict --json run of `id` with the picks in `answers`.
void check_json_run(const std::string& id, const std::string& answers, PredictRun& run) {
    const auto res = run_command({lab_bin(id), "--auto", "--json", "--predict", "--answers", answers},
                                 {}, 60s);
    EXPECT_EQ(res.exit_code, 0) << res.out << res.err;
    const auto events = lines_of(res.out);
    std::map<int, json> predict, step, observed, answer;
    json done;
    for (const auto& ev : events) {
        const std::string kind = ev.at("event");
        // Every line must also go through the one reader in core.
        const auto parsed = parse_lab_line(ev.dump());
        EXPECT_TRUE(parsed) << parsed.error << ": " << ev.dump();
        if (kind == "predict") predict[ev["step"]] = ev;
        if (kind == "step") step[ev["step"]] = ev;
        if (kind == "observed") observed[ev["step"]] = ev;
        if (kind == "answer") answer[ev["step"]] = ev;
        if (kind == "done") done = ev;
    }
    EXPECT_FALSE(predict.empty()) << res.out;
    std::vector<int> picks;
    for (std::size_t s = 0; s <= answers.size(); s = answers.find(',', s) + 1) {
        picks.push_back(std::stoi(answers.substr(s)));
        if (answers.find(',', s) == std::string::npos) break;
    }
    std::size_t next_pick = 0;
    for (const auto& [n, st] : step) {
        const auto& expect = st.at("expect");
        const bool has_state = std::any_of(expect.begin(), expect.end(), [](const json& e) {
            return !e.value("state", "").empty();
        });
        ASSERT_EQ(predict.count(n), has_state ? 1u : 0u) << "step " << n << ": " << st.dump();
        if (!has_state) continue;
        ++run.questions;
        const auto& q = predict[n].at("predict");
        const std::string question = q.at("question");
        const auto choices = q.at("choices").get<std::vector<std::string>>();
        EXPECT_GE(choices.size(), 3u) << question;
        EXPECT_LE(choices.size(), 4u) << question;
        // The question shows the call, never the title or a state the step expects.
        EXPECT_NE(question.find(st.at("call").get<std::string>()), std::string::npos) << question;
        EXPECT_EQ(question.find(st.at("title").get<std::string>()), std::string::npos) << question;
        for (const auto& e : expect)
            EXPECT_EQ(question.find(e.at("state").get<std::string>()), std::string::npos)
                << question << " gives away " << e.dump();
        // The predict line comes before the step runs.
        const auto& a = answer.at(n);
        const int right = a.at("answer");
        ASSERT_GE(right, 1);
        ASSERT_LE(right, static_cast<int>(choices.size()));
        // The right choice names exactly the step's expectations, in order (duplicates once).
        std::vector<std::string> want;
        for (const auto& e : expect) want.push_back(item_state(e));
        auto got = test::states_in_choice(choices[static_cast<std::size_t>(right - 1)]);
        for (const auto& w : got)
            EXPECT_NE(std::find(want.begin(), want.end(), w), want.end())
                << "choice " << right << " names " << w << ", not expected: " << st.dump();
        for (const auto& w : want)
            EXPECT_NE(std::find(got.begin(), got.end(), w), got.end())
                << "choice " << right << " lacks " << w << ": "
                << choices[static_cast<std::size_t>(right - 1)];
        // Every wrong choice differs from the right one.
        for (std::size_t i = 0; i < choices.size(); ++i)
            if (static_cast<int>(i + 1) != right) {
                EXPECT_NE(choices[i], choices[static_cast<std::size_t>(right - 1)]);
            }
        // The kernel agrees: every present expectation is a socket the lab observed.
        const auto& obs = observed.at(n);
        EXPECT_TRUE(obs.at("ok").get<bool>()) << obs.dump();
        for (const auto& e : expect) {
            const auto& socks = obs.at("sockets");
            const bool seen = std::any_of(socks.begin(), socks.end(), [&](const json& s) {
                return s.value("state", "") == e.at("state") &&
                       s.value("local_port", 0) == e.at("local_port") &&
                       s.value("remote_port", 0) == e.at("remote_port");
            });
            EXPECT_EQ(seen, !e.value("absent", false)) << e.dump() << " in " << obs.dump();
        }
        // Scored: the pick from --answers, right only when it is the answer.
        ASSERT_LT(next_pick, picks.size());
        const int pick = picks[next_pick++];
        EXPECT_EQ(a.at("picked"), pick);
        EXPECT_EQ(a.at("correct").get<bool>(), pick == right) << a.dump();
        if (pick == right) {
            ++run.correct;
        } else {
            ++run.wrong_picks_seen;
        }
    }
    EXPECT_EQ(done.value("questions", -1), run.questions) << done.dump();
    EXPECT_EQ(done.value("predicted", -1), run.correct) << done.dump();
    EXPECT_TRUE(done.value("ok", false)) << done.dump();
}

TEST(Predict, JsonQuestionsMatchExpectationsAndTheKernel) {
    SOCKLAB_REQUIRE_ROOT();
    for (const std::string id : {"bind", "active-close"}) {
        PrivateNetns ns;
        // Two runs with different picks: choice 1 everywhere, then 2; both include wrong picks
        // (the right answer's place moves from step to step).
        PredictRun a, b;
        check_json_run(id, "1,1,1,1,1,1,1,1", a);
        check_json_run(id, "2,2,2,2,2,2,2,2", b);
        EXPECT_EQ(a.questions, b.questions);
        EXPECT_GT(a.wrong_picks_seen + b.wrong_picks_seen, 0) << id;
        EXPECT_GT(a.correct + b.correct, 0) << id;
    }
}

TEST(Predict, AutoWithoutAnswersShowsQuestionsAndAnswersWithNoPick) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    const auto res = run_command({lab_bin("active-close"), "--auto", "--json", "--predict"}, {}, 60s);
    EXPECT_EQ(res.exit_code, 0) << res.err;
    int answers = 0;
    for (const auto& ev : lines_of(res.out)) {
        if (ev["event"] != "answer") continue;
        ++answers;
        EXPECT_TRUE(ev.at("picked").is_null()) << ev.dump();
        EXPECT_FALSE(ev.at("correct").get<bool>());
    }
    EXPECT_EQ(answers, 5) << res.out;
    EXPECT_NE(res.out.find("\"predicted\":0,\"questions\":5"), std::string::npos) << res.out;
}

// The terminal, through a stdin pipe: a bad entry is asked again, the title is shown only
// after the pick, and the score line counts the right picks.
TEST(Predict, TerminalAsksAgainOnBadEntryAndScores) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    // The right answers, from a JSON run of the same lab (the questions are deterministic).
    const auto js = run_command({lab_bin("bind"), "--auto", "--json", "--predict"}, {}, 60s);
    ASSERT_EQ(js.exit_code, 0) << js.err;
    std::map<int, int> right;
    int steps = 0;
    std::string first_title, first_question;
    for (const auto& ev : lines_of(js.out)) {
        if (ev["event"] == "lab") steps = ev["steps"];
        if (ev["event"] == "answer") right[ev["step"]] = ev["answer"];
        if (ev["event"] == "predict" && first_question.empty())
            first_question = ev["predict"]["question"];
        if (ev["event"] == "step" && first_title.empty()) first_title = ev["title"];
    }
    ASSERT_GT(steps, 0);
    ASSERT_FALSE(right.empty());
    // First question: "x" and "0" are refused; then the right answer. Later ones: right for
    // all but the last question, which gets a wrong pick. Steps without a question: Enter.
    std::string input = "x\n0\n";
    const int last_q = right.rbegin()->first;
    for (int n = 1; n <= steps; ++n) {
        if (!right.count(n)) {
            input += "\n";
            continue;
        }
        const int r = right[n];
        input += std::to_string(n == last_q ? (r % 2) + 1 : r) + "\n";
    }
    input += "\n";  // end the lab
    const auto res = run_command({lab_bin("bind"), "--predict"}, input, 60s);
    EXPECT_EQ(res.exit_code, 0) << res.out << res.err;
    const auto asked_again = res.out.find("Type a number from 1 to");
    EXPECT_NE(asked_again, std::string::npos) << res.out;
    const auto n = static_cast<int>(right.size());
    EXPECT_NE(res.out.find("You predicted " + std::to_string(n - 1) + " of " + std::to_string(n) +
                           " steps."),
              std::string::npos)
        << res.out;
    EXPECT_NE(res.out.find("wrong ✗"), std::string::npos);
    EXPECT_NE(res.out.find("right ✓"), std::string::npos);
    // The first step's title comes only after its question and the pick.
    const auto q = res.out.find(first_question.substr(0, first_question.find(' ', 8)));
    const auto t = res.out.find(first_title);
    ASSERT_NE(q, std::string::npos) << res.out;
    ASSERT_NE(t, std::string::npos) << res.out;
    EXPECT_LT(q, asked_again);
    EXPECT_LT(asked_again, t);
}

TEST(Predict, EndOfInputAtTheQuestionQuitsCleanly) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    const auto res = run_command({lab_bin("bind"), "--json", "--predict"}, "", 20s);
    EXPECT_EQ(res.exit_code, 0) << res.err;
    const auto events = lines_of(res.out);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().value("stopped", ""), "quit") << res.out;
    EXPECT_EQ(events.back().value("questions", -1), 1) << res.out;
    // Nothing ran: no step line was printed.
    for (const auto& ev : events) EXPECT_NE(ev["event"], "step") << ev.dump();
}

TEST(Predict, BadAnswersAreUsageErrors) {
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {lab_bin("bind"), "--predict", "--answers", "1,x"},
             {lab_bin("bind"), "--predict", "--answers", "0"},
             {lab_bin("bind"), "--predict", "--answers", "1,,2"},
             {lab_bin("bind"), "--answers", "1"},
             {bin("socklab"), "lab", "run", "bind", "--answers", "1"},
         }) {
        const auto res = run_command(argv, {}, 10s);
        EXPECT_EQ(res.exit_code, 2) << argv.back() << ": " << res.err;
        EXPECT_LE(std::count(res.err.begin(), res.err.end(), '\n'), 2) << res.err;
        EXPECT_TRUE(res.out.empty()) << res.out;
    }
}

TEST(Predict, LabRunPassesPredictAndAnswers) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    const auto res = run_command(
        {bin("socklab"), "lab", "run", "bind", "--auto", "--json", "--predict", "--answers", "1"}, {}, 60s);
    EXPECT_EQ(res.exit_code, 0) << res.err;
    EXPECT_NE(res.out.find("\"event\":\"predict\""), std::string::npos) << res.out;
    EXPECT_NE(res.out.find("\"picked\":1,"), std::string::npos) << res.out;
}

}  // namespace
}  // namespace socklab::test
