// socklab-viewer: the live socket table, the TCP state diagram, lifelines and the labs.
// Phased like Dear ImGui's example_glfw_opengl3: options -> window and GL context -> ImGui
// context and backends -> app (poller thread, lab runner) -> main loop -> cleanup in reverse.
#include <dlfcn.h>
#include <link.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <GLFW/glfw3.h>
#include <GL/gl.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>
#include <stb_image_write.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "model/synthetic_source.hpp"
#include "panels/doctor_panel.hpp"
#include "panels/ladder_panel.hpp"
#include "socklab/args.hpp"
#include "socklab/i18n.hpp"
#include "socklab/tracer.hpp"
#include "ui/app.hpp"
#include "ui/fonts.hpp"
#include "ui/style.hpp"

namespace {

using namespace socklab::viewer;
using Clock = std::chrono::steady_clock;

struct Options {
    int interval_ms = 1000;
    std::string screenshot;
    int frames = 0;
    std::string lab;
    int lab_steps = 1;
    std::uint16_t lab_port = 0;
    std::uint16_t doctor_port = 0;
    std::uint16_t ladder_port = 0;
    std::string dump_state;
    bool no_trace = false;
    int bench_frames = 0;
    std::string bench_out;
    std::string filter;
    std::string size = "1600x1000";
    std::size_t synthetic = 0;
    std::string socklab;
    std::string lang;
    bool no_cjk_font = false;
};

std::filesystem::path self_dir() {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::filesystem::path(".") : exe.parent_path();
}

std::string settings_path() {
    // XDG config dir, so settings persist wherever the viewer is started from.
    std::filesystem::path dir;
    if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) dir = x;
    else if (const char* h = std::getenv("HOME"); h && *h) dir = std::filesystem::path(h) / ".config";
    else return "imgui.ini";
    dir /= "socklab";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    return (dir / "imgui.ini").string();
}

#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer builds only. Mesa unloads its driver (swrast_dri.so and what it pulls in)
// when the display closes, before LeakSanitizer looks at the heap at exit. The driver's
// once-per-process allocations then show up as leaks from an address no library owns any
// more, which tests/lsan.supp cannot name. Marking every library loaded so far as
// never-unload keeps their names, so the suppressions match and our own leaks still show.
void keep_libraries_loaded_for_leak_checks() {
    std::vector<std::string> names;
    ::dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* out) {
            if (info->dlpi_name != nullptr && info->dlpi_name[0] != '\0')
                static_cast<std::vector<std::string>*>(out)->emplace_back(info->dlpi_name);
            return 0;
        },
        &names);
    // dlopen outside the iteration: the loader's lock is held inside it.
    for (const auto& n : names) (void)::dlopen(n.c_str(), RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
}
#endif

// CPU time of this thread: on a busy machine wall time also counts waiting for a core.
double thread_cpu_ms() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(idx, v.size() - 1)];
}

bool write_png(const std::string& path, int w, int h) {
    std::vector<unsigned char> pixels(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 4);
    glPixelStorei(GL_PACK_ALIGNMENT, 1);
    glReadBuffer(GL_BACK);
    glReadPixels(0, 0, w, h, GL_RGBA, GL_UNSIGNED_BYTE, pixels.data());
    stbi_flip_vertically_on_write(1);  // GL's origin is bottom-left
    return stbi_write_png(path.c_str(), w, h, 4, pixels.data(), w * 4) != 0;
}

// One line on stderr, prefixed with the program's name.
void say(const std::string& line) { std::fprintf(stderr, "socklab-viewer: %s\n", line.c_str()); }

void say_cannot_write(const std::string& path) {
    say(socklab::i18n::format(_("failed to write {}: check the directory exists and is writable"), path));
}

bool write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text << '\n';
    return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
    // ---- options ----
    Options o;
    // The language first: --help itself is translated. CLI11 checks the value again below.
    for (int i = 1; i + 1 < argc; ++i)
        if (std::string_view(argv[i]) == "--lang") o.lang = argv[i + 1];
    for (int i = 1; i < argc; ++i)
        if (std::string_view(argv[i]).rfind("--lang=", 0) == 0) o.lang = argv[i] + 7;
    if (!socklab::i18n::init(o.lang)) {
        say(socklab::i18n::format(_("--lang: '{}' is not a language here: give ko or en"), o.lang));
        return 2;
    }
    CLI::App cli{_("socklab-viewer: watch the kernel's TCP socket table live — table, state diagram, "
                   "lifelines and the labs.")};
    cli.add_option("--interval", o.interval_ms, _("Poll every MS milliseconds (100-5000)"))
        ->check(socklab::cli::whole_number(100, 5000, "milliseconds"));
    cli.add_option("--screenshot", o.screenshot, _("Render headless, write this PNG and exit"));
    cli.add_option("--frames", o.frames, _("Frames to render before the screenshot/dump (default 3)"))
        ->check(socklab::cli::whole_number(1, 100000, "frames"));
    cli.add_option("--lab", o.lab, _("Start this lab (see `socklab lab list`)"));
    cli.add_option("--lab-steps", o.lab_steps, _("Run the lab this many steps first (headless)"))
        ->check(socklab::cli::whole_number(0, 1000, "steps"));
    cli.add_option("--lab-port", o.lab_port, _("Port for the lab (default: the lab's own)"))
        ->check(socklab::cli::port_validator());
    cli.add_option("--doctor", o.doctor_port, _("Open the port doctor on PORT: why can't it be bound?"))
        ->check(socklab::cli::port_validator())
        ->option_text("PORT");
    cli.add_option("--ladder", o.ladder_port, _("Show the ladder of the newest connection on PORT (capturing from the start)"))
        ->check(socklab::cli::port_validator())
        ->option_text("PORT");
    cli.add_option("--dump-state", o.dump_state, _("Write what each panel shows as JSON and exit"));
    cli.add_flag("--no-trace", o.no_trace, _("Do not start the tracer: polling only"));
    cli.add_option("--bench-frames", o.bench_frames, _("Render N frames and report frame times"))
        ->check(socklab::cli::whole_number(1, 1000000, "frames"));
    cli.add_option("--bench-out", o.bench_out, _("Where --bench-frames writes its JSON"));
    cli.add_option("--filter", o.filter, _("Start with this text in the table's filter box"));
    cli.add_option("--size", o.size, _("Window size WxH (default 1600x1000)"));
    cli.add_option("--socklab", o.socklab, _("The socklab program that runs the labs (default: the one next to socklab-viewer)"));
    cli.add_option("--synthetic", o.synthetic,
                   _("Show a made-up table of N sockets instead of the kernel's (benchmarks, demos)"))
        ->check(socklab::cli::whole_number(1, 10'000'000, "sockets"));
    cli.add_option("--lang", o.lang, _("Language of the viewer: ko or en (default: from LC_ALL, LC_MESSAGES, LANG)"))
        ->check(CLI::IsMember({"ko", "en"}));
    cli.add_flag("--no-cjk-font", o.no_cjk_font,
                 _("Leave the Korean (CJK) font out of the atlas: Hangul shows as '?' (to measure what it costs)"));
    socklab::cli::add_version_flag(cli);
    cli.footer(_(
        "EXAMPLES\n"
        "  socklab-viewer                              # live, as you (sudo: owners of all + tracer)\n"
        "  socklab-viewer --filter 8080 --interval 250\n"
        "  xvfb-run -a socklab-viewer --lab close-wait-leak --lab-steps 4 --screenshot lab.png\n"
        "  xvfb-run -a socklab-viewer --dump-state state.json --frames 5\n"
        "  xvfb-run -a socklab-viewer --doctor 8080 --frames 40 --screenshot doctor.png\n"
        "  xvfb-run -a socklab-viewer --lab active-close --lab-steps 4 --ladder 9005 --screenshot ladder.png\n"
        "  xvfb-run -a socklab-viewer --synthetic 100000 --bench-frames 600 --bench-out b.json\n"
        "  xvfb-run -a socklab-viewer --lang ko --screenshot viewer-ko.png"));
    try {
        cli.parse(argc, argv);
    } catch (const CLI::Success& e) {  // --help, --version
        return cli.exit(e);
    } catch (const CLI::ParseError& e) {
        say(socklab::i18n::format(_("{} (see socklab-viewer --help)"), socklab::cli::parse_error_text(e)));
        return 2;
    }
    if (!o.bench_out.empty() && o.bench_frames == 0) {
        say(_("--bench-out needs --bench-frames N"));
        return 2;
    }
    int win_w = 0, win_h = 0;
    if (std::sscanf(o.size.c_str(), "%dx%d", &win_w, &win_h) != 2 || win_w < 320 || win_h < 240 ||
        win_w > 8192 || win_h > 8192) {
        say(_("--size must look like 1600x1000 (320x240 to 8192x8192)"));
        return 2;
    }
    const bool headless = !o.screenshot.empty() || !o.dump_state.empty() || o.bench_frames > 0;
    if (headless && o.frames == 0) o.frames = 3;
    // A lab that already exited must not kill us when we write "quit" to it.
    ::signal(SIGPIPE, SIG_IGN);
    // Closed by SIGINT or SIGTERM (no handler of ours): the poller's tracing instance goes too.
    socklab::Tracer::remove_instances_on_exit();

    // ---- window and GL context ----
    glfwSetErrorCallback([](int, const char*) {});
    if (!glfwInit()) {
        say(std::getenv("DISPLAY") != nullptr
                ? _("no display: failed to open a window (DISPLAY is set but cannot be reached). Run it "
                    "on a desktop, or headless: xvfb-run -a socklab-viewer --screenshot out.png")
                : _("no display: failed to open a window (DISPLAY is not set). Run it on a desktop, or "
                    "headless: xvfb-run -a socklab-viewer --screenshot out.png"));
        return 1;
    }
    glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
    glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
    glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
    GLFWwindow* window = glfwCreateWindow(win_w, win_h, "socklab-viewer", nullptr, nullptr);
    if (window == nullptr) {
        say(_("failed to create an OpenGL 3.3 window: the display has no OpenGL 3.3 (try xvfb-run -a "
              "-s \"-screen 0 1600x1000x24\", Mesa llvmpipe)"));
        glfwTerminate();
        return 1;
    }
    glfwMakeContextCurrent(window);
#if defined(__SANITIZE_ADDRESS__)
    keep_libraries_loaded_for_leak_checks();
#endif
    glfwSwapInterval(o.bench_frames > 0 ? 0 : 1);

    // ---- ImGui context and backends ----
    IMGUI_CHECKVERSION();
    ImGui::CreateContext();
    ImGuiIO& io = ImGui::GetIO();
    // Headless runs start from the default layout so screenshots are reproducible.
    static std::string ini = settings_path();
    io.IniFilename = headless ? nullptr : ini.c_str();
    style::apply_theme();
    std::vector<std::string> catalogues;
    if (auto dir = socklab::i18n::catalogue_dir(); !dir.empty()) catalogues.push_back(std::move(dir));
    const FontsLoaded fonts = load_fonts(io, catalogues, !o.no_cjk_font);
    if (!o.no_cjk_font && fonts.cjk_file.empty())
        say(socklab::i18n::format(_("no Korean font: {}; the UI stays in Latin letters and Hangul shows as '?'"),
                                  fonts.problem));
    ImGui_ImplGlfw_InitForOpenGL(window, true);
    ImGui_ImplOpenGL3_Init("#version 330 core");
    // The atlas goes to the GPU now; its CPU copies (8 + 32 bits a texel, ~80 MB with every
    // Hangul syllable) are not needed after that.
    ImGui_ImplOpenGL3_CreateDeviceObjects();
    io.Fonts->ClearTexData();

    // ---- the app: poller thread, labs ----
    int rc = 0;
    {
        AppOptions ao;
        ao.poller.interval = std::chrono::milliseconds(o.interval_ms);
        ao.poller.trace = !o.no_trace;
        if (o.synthetic > 0) {
            const std::size_t n = o.synthetic;
            ao.poller.make_source = [n] { return make_synthetic_source(n); };
            ao.poller.owners = false;
        }
        const std::filesystem::path socklab = o.socklab.empty() ? self_dir() / "socklab" : std::filesystem::path(o.socklab);
        if (std::filesystem::exists(socklab)) ao.socklab_command = {socklab.string()};
        ao.filter = o.filter;
        ao.headless = headless;
        ao.ladder_port = o.ladder_port;
        App app(ao);
        if (o.doctor_port != 0) DoctorPanel::ask(o.doctor_port);
        if (o.ladder_port != 0) LadderPanel::show_port(o.ladder_port);

        if (headless) {
            // Wait for the first picture of the table, bounded.
            app.poller().wait_for_frame(0, std::chrono::seconds(15));
        }
        if (!o.lab.empty()) {
            if (app.labs() == nullptr) {
                if (o.socklab.empty())
                    say(socklab::i18n::format(_("failed to start lab {}: socklab is not next to "
                                                "socklab-viewer ({}); build the socklab target"),
                                              o.lab, socklab.string()));
                else
                    say(socklab::i18n::format(_("failed to start lab {}: --socklab {} does not exist; "
                                                "give the path of the socklab program"),
                                              o.lab, socklab.string()));
                rc = 1;
            } else {
                app.labs()->start(o.lab, o.lab_port);
                const int k = o.lab_steps;
                // One 60 s allowance for the lab to say how many steps it has and run them.
                const auto deadline = Clock::now() + std::chrono::seconds(60);
                const auto time_left = [&] {
                    return std::max(std::chrono::milliseconds(0),
                                    std::chrono::duration_cast<std::chrono::milliseconds>(
                                        deadline - Clock::now()));
                };
                if (headless && k > 0) {
                    // The lab says how many steps it has before it runs any: asking for more
                    // is a mistake to name, not a run that quietly stops early.
                    (void)app.labs()->wait_until(
                        [](const LabState& s) { return s.steps > 0 || s.exit_code || !s.error.empty(); },
                        time_left());
                    const auto first = app.labs()->state();
                    if (first.steps > 0 && k > first.steps) {
                        say(socklab::i18n::format(_("--lab-steps {0}: lab {1} has {2} steps; give a "
                                                    "number from 1 to {2}"),
                                                  k, o.lab, first.steps));
                        rc = 2;
                    }
                }
                if (headless && k > 0 && rc == 0) {
                    app.labs()->advance(k);
                    const bool reached = app.labs()->wait_until(
                        [k](const LabState& s) {
                            return (s.observed && s.observed->step >= k) || s.done_ok ||
                                   s.exit_code || !s.error.empty();
                        },
                        time_left());
                    const auto st = app.labs()->state();
                    if (!reached || !st.error.empty()) {
                        say(socklab::i18n::format(_("failed to run lab {} to step {}: {}"), o.lab, k,
                                                  st.error.empty() ? std::string(_("timed out after 60 s")) : st.error));
                        rc = 1;
                    }
                    // The table must show what the lab just did.
                    const auto seq = app.poller().latest()->seq;
                    app.poller().poll_now();
                    app.poller().wait_for_frame(seq, std::chrono::seconds(10));
                }
            }
        }

        // ---- main loop ----
        std::vector<double> ui_ms, frame_ms, ui_cpu_ms;
        const int total = o.bench_frames > 0 ? o.bench_frames : o.frames;
        double last_frame_ms = 0;
        int drawn = 0;
        const auto settle_deadline = Clock::now() + std::chrono::seconds(30);
        while (!glfwWindowShouldClose(window) && rc == 0) {
            glfwPollEvents();
            if (!headless && glfwGetWindowAttrib(window, GLFW_ICONIFIED) != 0) {
                glfwWaitEventsTimeout(0.1);  // minimised: draw nothing
                continue;
            }
            const auto t0 = Clock::now();
            const double c0 = o.bench_frames > 0 ? thread_cpu_ms() : 0.0;
            ImGui_ImplOpenGL3_NewFrame();
            ImGui_ImplGlfw_NewFrame();
            ImGui::NewFrame();
            app.draw(last_frame_ms);
            ImGui::Render();
            const auto t1 = Clock::now();
            const double c1 = o.bench_frames > 0 ? thread_cpu_ms() : 0.0;
            int fb_w = 0, fb_h = 0;
            glfwGetFramebufferSize(window, &fb_w, &fb_h);
            glViewport(0, 0, fb_w, fb_h);
            glClearColor(0.07f, 0.08f, 0.10f, 1.0f);
            glClear(GL_COLOR_BUFFER_BIT);
            ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
            if (o.bench_frames > 0) glFinish();  // count the rendering, not just its submission
            const auto t2 = Clock::now();
            last_frame_ms = std::chrono::duration<double, std::milli>(t2 - t0).count();
            ++drawn;
            if (o.bench_frames > 0 && drawn > 5) {  // the first frames build font atlases
                ui_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
                ui_cpu_ms.push_back(c1 - c0);
                frame_ms.push_back(last_frame_ms);
            }
            // Headless: the frames asked for, and then until no panel is still working on a
            // request (the doctor's diagnosis), for at most 30 s.
            const bool last = headless && drawn >= total + (o.bench_frames > 0 ? 5 : 0) &&
                              (!app.settling() || Clock::now() > settle_deadline);
            if (last && !o.screenshot.empty() && !write_png(o.screenshot, fb_w, fb_h)) {
                say_cannot_write(o.screenshot);
                rc = 1;
            }
            glfwSwapBuffers(window);
            if (last) break;
        }
        auto state = app.dump_state();
        state["language"] = std::string(socklab::i18n::language());
        state["fonts"] = fonts.files;
        state["font_atlas"] = {{"width", fonts.atlas_width},
                               {"height", fonts.atlas_height},
                               {"bytes", std::int64_t{fonts.atlas_width} * fonts.atlas_height * 4},
                               {"glyphs", fonts.glyphs},
                               {"build_ms", fonts.build_ms}};
        if (rc == 0 && !o.dump_state.empty() && !write_text(o.dump_state, state.dump(2))) {
            say_cannot_write(o.dump_state);
            rc = 1;
        }
        if (rc == 0 && o.bench_frames > 0) {
            const auto f = app.poller().latest();
            nlohmann::json j{{"frames", ui_ms.size()},
                             {"sockets", f->rows.size()},
                             {"source", f->source},
                             {"window", o.size},
                             {"ui_ms", {{"p50", percentile(ui_ms, 0.5)}, {"p99", percentile(ui_ms, 0.99)},
                                        {"max", percentile(ui_ms, 1.0)}}},
                             {"ui_cpu_ms", {{"p50", percentile(ui_cpu_ms, 0.5)}, {"p99", percentile(ui_cpu_ms, 0.99)},
                                            {"max", percentile(ui_cpu_ms, 1.0)}}},
                             {"frame_ms", {{"p50", percentile(frame_ms, 0.5)}, {"p99", percentile(frame_ms, 0.99)},
                                           {"max", percentile(frame_ms, 1.0)}}},
                             {"snapshot_ms", f->snapshot_ms},
                             {"poll_build_ms", f->build_ms}};
            const std::string text = j.dump(2);
            if (!o.bench_out.empty()) {
                if (!write_text(o.bench_out, text)) {
                    say_cannot_write(o.bench_out);
                    rc = 1;
                }
            } else {
                std::puts(text.c_str());
            }
        }
    }

    // ---- cleanup, in reverse ----
    ImGui_ImplOpenGL3_Shutdown();
    ImGui_ImplGlfw_Shutdown();
    ImGui::DestroyContext();
    glfwDestroyWindow(window);
    glfwTerminate();
    return rc;
}
