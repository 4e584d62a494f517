// socklab-viewer: the live socket table, the TCP state diagram, lifelines and the labs.
// Phased like Dear ImGui's example_glfw_opengl3: options -> window and GL context -> ImGui
// context and backends -> app (poller thread, lab runner) -> main loop -> cleanup in reverse.
#include <dlfcn.h>
#include <link.h>
#include <signal.h>
#include <unistd.h>

#include <GLFW/glfw3.h>
#include <GL/gl.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
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
#include "ui/headless.hpp"
#include "ui/say.hpp"
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
    bool lab_predict = false;
    std::vector<int> lab_answers;
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
    std::vector<std::string> program;  // after --
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
    auto* lab_predict = cli.add_flag("--lab-predict", o.lab_predict, _("Start the lab in predict mode (the Predict switch)"));
    cli.add_option("--lab-answers", o.lab_answers, _("With --lab-predict: the picks for its questions in order, e.g. 2,1 (headless)"))
        ->delimiter(',')->check(socklab::cli::whole_number(1, 16, "choices"))->needs(lab_predict);
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
    cli.add_option("program", o.program,
                   _("Your program and its arguments, after --: run it as `socklab run` does and show only its "
                     "sockets, with the findings live in the Your program panel"));
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
        "  xvfb-run -a socklab-viewer --lang ko --screenshot viewer-ko.png\n"
        "  socklab-viewer -- python3 chat.py 9000       # your program: its sockets and findings"));
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
        ao.program = o.program;
        App app(ao);
        if (o.doctor_port != 0) DoctorPanel::ask(o.doctor_port);
        if (o.ladder_port != 0) LadderPanel::show_port(o.ladder_port);

        if (headless) {
            // Wait for the first picture of the table, bounded.
            app.poller().wait_for_frame(0, std::chrono::seconds(15));
        }
        LabStart lab{o.lab, o.lab_steps, o.lab_port, o.lab_predict, o.lab_answers, o.socklab, socklab};
        rc = start_lab(app, lab, headless);

        // ---- main loop ----
        HeadlessRun script({o.screenshot, o.dump_state, o.frames, o.bench_frames, o.bench_out, o.size});
        const bool bench = script.benchmarking();
        double last_frame_ms = 0;
        int drawn = 0;
        while (!glfwWindowShouldClose(window) && rc == 0) {
            glfwPollEvents();
            if (!headless && glfwGetWindowAttrib(window, GLFW_ICONIFIED) != 0) {
                glfwWaitEventsTimeout(0.1);  // minimised: draw nothing
                continue;
            }
            const auto t0 = Clock::now();
            const double c0 = bench ? thread_cpu_ms() : 0.0;
            ImGui_ImplOpenGL3_NewFrame();
            ImGui_ImplGlfw_NewFrame();
            ImGui::NewFrame();
            app.draw(last_frame_ms);
            ImGui::Render();
            const auto t1 = Clock::now();
            const double c1 = bench ? thread_cpu_ms() : 0.0;
            int fb_w = 0, fb_h = 0;
            glfwGetFramebufferSize(window, &fb_w, &fb_h);
            glViewport(0, 0, fb_w, fb_h);
            glClearColor(0.07f, 0.08f, 0.10f, 1.0f);
            glClear(GL_COLOR_BUFFER_BIT);
            ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
            if (bench) glFinish();  // count the rendering, not just its submission
            const auto t2 = Clock::now();
            last_frame_ms = std::chrono::duration<double, std::milli>(t2 - t0).count();
            ++drawn;
            if (script.measured(drawn))
                script.bench().add(std::chrono::duration<double, std::milli>(t1 - t0).count(), c1 - c0,
                                   last_frame_ms, app.poller().latest()->seq);
            const bool last = headless && script.last_frame(drawn, app, fb_w, fb_h, rc);
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
        rc = script.write_outputs(app, state, rc);
    }

    // ---- cleanup, in reverse ----
    ImGui_ImplOpenGL3_Shutdown();
    ImGui_ImplGlfw_Shutdown();
    ImGui::DestroyContext();
    glfwDestroyWindow(window);
    glfwTerminate();
    return rc;
}
