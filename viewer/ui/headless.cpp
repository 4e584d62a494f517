#include "ui/headless.hpp"

#include <GL/gl.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <vector>

#include "socklab/i18n.hpp"
#include "ui/say.hpp"

namespace socklab::viewer {
namespace {

using Clock = std::chrono::steady_clock;

bool write_png(const std::string& path, int w, int h) {
    std::vector<unsigned char> pixels(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 4);
    glPixelStorei(GL_PACK_ALIGNMENT, 1);
    glReadBuffer(GL_BACK);
    glReadPixels(0, 0, w, h, GL_RGBA, GL_UNSIGNED_BYTE, pixels.data());
    stbi_flip_vertically_on_write(1);  // GL's origin is bottom-left
    return stbi_write_png(path.c_str(), w, h, 4, pixels.data(), w * 4) != 0;
}

bool write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text << '\n';
    return static_cast<bool>(out);
}

// Headless: run the first `k` steps of the lab just started, within one 60 s allowance.
int run_lab_steps(App& app, const LabStart& lab) {
    const int k = lab.steps;
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    const auto time_left = [&] {
        return std::max(std::chrono::milliseconds(0),
                        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    };
    // The lab says how many steps it has before it runs any: asking for more is a mistake
    // to name, not a run that quietly stops early.
    (void)app.labs()->wait_until(
        [](const LabState& s) { return s.steps > 0 || s.exit_code || !s.error.empty(); }, time_left());
    const auto first = app.labs()->state();
    if (first.steps > 0 && k > first.steps) {
        say(socklab::i18n::format(_("--lab-steps {0}: lab {1} has {2} steps; give a "
                                    "number from 1 to {2}"),
                                  k, lab.id, first.steps));
        return 2;
    }
    int rc = 0;
    app.labs()->advance(k, lab.answers);
    const bool reached = app.labs()->wait_until(
        [k](const LabState& s) {
            return (s.observed && s.observed->step >= k) || s.done_ok || s.exit_code || !s.error.empty();
        },
        time_left());
    const auto st = app.labs()->state();
    if (!reached || !st.error.empty()) {
        say(socklab::i18n::format(_("failed to run lab {} to step {}: {}"), lab.id, k,
                                  st.error.empty() ? std::string(_("timed out after 60 s")) : st.error));
        rc = 1;
    }
    // The table must show what the lab just did.
    const auto seq = app.poller().latest()->seq;
    app.poller().poll_now();
    app.poller().wait_for_frame(seq, std::chrono::seconds(10));
    return rc;
}

}  // namespace

int start_lab(App& app, const LabStart& lab, bool headless) {
    if (lab.id.empty()) return 0;
    if (app.labs() == nullptr) {
        if (lab.socklab_given.empty())
            say(socklab::i18n::format(_("failed to start lab {}: socklab is not next to "
                                        "socklab-viewer ({}); build the socklab target"),
                                      lab.id, lab.socklab.string()));
        else
            say(socklab::i18n::format(_("failed to start lab {}: --socklab {} does not exist; "
                                        "give the path of the socklab program"),
                                      lab.id, lab.socklab.string()));
        return 1;
    }
    app.labs()->start(lab.id, lab.port, lab.predict);
    if (headless && lab.steps > 0) return run_lab_steps(app, lab);
    return 0;
}

HeadlessRun::HeadlessRun(HeadlessOptions o)
    : o_(std::move(o)), settle_deadline_(Clock::now() + std::chrono::seconds(30)) {}

bool HeadlessRun::last_frame(int drawn, const App& app, int fb_w, int fb_h, int& rc) const {
    // The frames asked for, and then until no panel is still working on a request (the
    // doctor's diagnosis), for at most 30 s.
    const int total = benchmarking() ? o_.bench_frames + 5 : o_.frames;
    const bool last = drawn >= total && (!app.settling() || Clock::now() > settle_deadline_);
    if (last && !o_.screenshot.empty() && !write_png(o_.screenshot, fb_w, fb_h)) {
        say_cannot_write(o_.screenshot);
        rc = 1;
    }
    return last;
}

int HeadlessRun::write_outputs(App& app, const nlohmann::json& state, int rc) const {
    if (rc == 0 && !o_.dump_state.empty() && !write_text(o_.dump_state, state.dump(2))) {
        say_cannot_write(o_.dump_state);
        rc = 1;
    }
    if (rc == 0 && benchmarking()) {
        const std::string text = bench_.json(*app.poller().latest(), o_.window, app.poller().poll_timings()).dump(2);
        if (!o_.bench_out.empty()) {
            if (!write_text(o_.bench_out, text)) {
                say_cannot_write(o_.bench_out);
                rc = 1;
            }
        } else {
            std::puts(text.c_str());
        }
    }
    return rc;
}

}  // namespace socklab::viewer
