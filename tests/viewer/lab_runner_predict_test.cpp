// The lab runner in predict mode against a real lab (active-close, the real socklab and lab
// program) in a private network namespace: the question arrives before its step, a pick sent
// by the runner is what the lab scores, and the verdict lands in the model state — one right
// and one wrong pick. Which choice is right comes from an independent run of the same lab
// (`socklab lab run ... --auto --json --predict`), and the right choice must name exactly the
// states the step then expected and the kernel's table showed.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "model/lab_runner.hpp"
#include "testsupport.hpp"

namespace socklab::viewer {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kLab = "active-close";

// The number of the right choice for each question, as a run of the lab on its own says.
std::map<int, int> right_answers() {
    const auto res = test::run_command(
        {test::bin("socklab"), "lab", "run", kLab, "--auto", "--json", "--predict", "--lang", "en"}, {}, 60s);
    EXPECT_EQ(res.exit_code, 0) << res.out << res.err;
    std::map<int, int> right;
    std::istringstream in(res.out);
    std::string line;
    while (std::getline(in, line)) {
        const auto ev = json::parse(line);
        if (ev.at("event") == "answer") right[ev.at("step").get<int>()] = ev.at("answer").get<int>();
    }
    return right;
}

std::vector<std::string> expected_states(const LabEvent& step) {
    std::vector<std::string> out;
    for (const auto& e : step.expect)
        if (!e.state.empty()) out.push_back((e.absent ? "no " : "") + e.state);
    return out;
}

class LabRunnerPredict : public ::testing::Test {
protected:
    void SetUp() override {
        SOCKLAB_REQUIRE_ROOT();
        // Before the runner: its worker thread (which starts the lab) inherits the namespace.
        ns_ = std::make_unique<test::PrivateNetns>();
        right_ = right_answers();
        ASSERT_GE(right_.size(), 2u) << "the lab asks fewer than two questions";
        ASSERT_TRUE(right_.contains(1) && right_.contains(2)) << "steps 1 and 2 of " << kLab << " have questions";
    }
    void TearDown() override { ns_.reset(); }

    // A pick for step 2 that is not its answer.
    [[nodiscard]] int wrong_for_step2() const { return right_.at(2) == 1 ? 2 : 1; }

    // The verdict for step `k` in `s`: its question kept, with the pick and the answer.
    static void expect_verdict(const LabState& s, int k, int picked, int answer, bool correct) {
        ASSERT_TRUE(s.answered) << "no verdict for step " << k;
        const LabQuestion& q = *s.answered;
        EXPECT_EQ(q.step, k);
        ASSERT_TRUE(q.answer);
        EXPECT_EQ(q.sent, picked) << "the runner records what it sent";
        EXPECT_EQ(q.answer->picked, picked) << "the lab scored another pick than the one sent";
        EXPECT_EQ(q.answer->answer, answer);
        EXPECT_EQ(q.answer->correct, correct);
        // The kernel agrees: the step's checks passed, and its right choice names exactly the
        // states the step expected.
        ASSERT_TRUE(s.step && s.observed);
        EXPECT_EQ(s.step->step, k);
        EXPECT_EQ(s.observed->step, k);
        EXPECT_TRUE(s.observed->ok.value_or(false));
        ASSERT_GE(q.predict.choices.size(), 2u);
        ASSERT_LE(static_cast<std::size_t>(answer), q.predict.choices.size());
        EXPECT_EQ(test::states_in_choice(q.predict.choices[static_cast<std::size_t>(answer - 1)]), expected_states(*s.step));
    }

    std::unique_ptr<test::PrivateNetns> ns_;
    std::map<int, int> right_;
};

TEST_F(LabRunnerPredict, AskedBeforeTheStepARightAndAWrongPickAreScored) {
    LabRunner r({test::bin("socklab")});
    r.start(kLab, 0, true);
    ASSERT_TRUE(r.wait_until([](const LabState& s) { return s.asking() || s.exit_code; }, 30s));
    auto s = r.state();
    ASSERT_TRUE(s.asking()) << s.error << " " << s.last_stderr;
    EXPECT_TRUE(s.predict);
    EXPECT_EQ(s.question->step, 1);
    EXPECT_EQ(s.waiting_for, 1);
    EXPECT_FALSE(s.step.has_value()) << "the question comes before its step runs";
    EXPECT_FALSE(s.question->predict.question.empty());
    EXPECT_GE(s.question->predict.choices.size(), 2u);

    // Step 1: the right pick.
    r.answer(right_.at(1));
    ASSERT_TRUE(r.wait_until([](const LabState& x) { return x.step_told(1) || x.exit_code; }, 30s));
    s = r.state();
    expect_verdict(s, 1, right_.at(1), right_.at(1), true);

    // Step 2: the next question comes, and a wrong pick is scored wrong.
    ASSERT_TRUE(r.wait_until([](const LabState& x) { return x.asking() || x.exit_code; }, 30s));
    s = r.state();
    ASSERT_TRUE(s.asking());
    EXPECT_EQ(s.question->step, 2);
    EXPECT_EQ(s.answered->step, 1) << "the last verdict stays beside its step while the next is asked";
    r.answer(wrong_for_step2());
    ASSERT_TRUE(r.wait_until([](const LabState& x) { return x.step_told(2) || x.exit_code; }, 30s));
    s = r.state();
    expect_verdict(s, 2, wrong_for_step2(), right_.at(2), false);

    // The rest without picks: the score counts every question and the one right pick.
    r.run_auto();
    ASSERT_TRUE(r.wait_until([](const LabState& x) { return x.done_ok.has_value() || x.exit_code; }, 60s));
    s = r.state();
    ASSERT_TRUE(s.done_ok);
    EXPECT_TRUE(*s.done_ok);
    EXPECT_EQ(s.questions, static_cast<int>(right_.size()));
    EXPECT_EQ(s.predicted, 1);
    ASSERT_TRUE(s.answered && s.answered->answer);
    EXPECT_FALSE(s.answered->answer->picked.has_value()) << "Auto runs the last questions without a pick";
    r.stop();
    ASSERT_TRUE(r.wait_until([](const LabState& x) { return !x.running; }, 10s));
}

// The headless path (--lab-steps with --lab-answers): advance(k, picks) answers each question
// with the next pick and stops before step k + 1, whose question is then shown.
TEST_F(LabRunnerPredict, AdvanceAnswersQuestionsWithThePicksInOrder) {
    LabRunner r({test::bin("socklab")});
    r.start(kLab, 0, true);
    r.advance(2, {right_.at(1), wrong_for_step2()});
    ASSERT_TRUE(r.wait_until([](const LabState& s) { return (s.step_told(2) && s.asking()) || s.exit_code; }, 60s));
    const auto s = r.state();
    expect_verdict(s, 2, wrong_for_step2(), right_.at(2), false);
    ASSERT_TRUE(s.question);
    EXPECT_EQ(s.question->step, 3);
    EXPECT_FALSE(s.question->sent.has_value()) << "two picks for two steps: the third is the learner's";
    r.stop();
    ASSERT_TRUE(r.wait_until([](const LabState& x) { return !x.running; }, 10s));
}

// Without Predict the lab asks nothing: the same lab runs as before.
TEST_F(LabRunnerPredict, WithoutPredictNoQuestionIsAsked) {
    LabRunner r({test::bin("socklab")});
    r.start(kLab);
    r.advance(1);
    ASSERT_TRUE(r.wait_until([](const LabState& s) { return s.waiting_for == 2 || s.exit_code; }, 30s));
    const auto s = r.state();
    EXPECT_FALSE(s.predict);
    EXPECT_FALSE(s.question.has_value());
    EXPECT_FALSE(s.answered.has_value());
    ASSERT_TRUE(s.observed);
    EXPECT_TRUE(s.observed->ok.value_or(false));
    r.stop();
    ASSERT_TRUE(r.wait_until([](const LabState& x) { return !x.running; }, 10s));
}

}  // namespace
}  // namespace socklab::viewer
