#include "ui/app.hpp"

#include <GLFW/glfw3.h>

#include <algorithm>

#include "panels/program_panel.hpp"
#include "panels/registry.hpp"
#include "socklab/i18n.hpp"
#include "socklab/source.hpp"
#include "ui/style.hpp"

namespace socklab::viewer {
namespace {
constexpr std::size_t kMaxTransitions = 4096;

LadderFeedOptions ladder_options(Poller& poller, const CallLog& calls) {
    LadderFeedOptions o;
    o.calls = [&calls](std::uint64_t after, std::vector<SyscallEvent>& out) {
        return calls.since(after, out);
    };
    o.transitions = [&poller](std::uint64_t after, std::vector<ObservedTransition>& out) {
        return poller.transitions_since(after, out);
    };
    o.poller_seq = [&poller] { return poller.latest()->seq; };
    return o;
}
}  // namespace

App::App(AppOptions opts)
    : opts_(std::move(opts)), poller_(opts_.poller), ladder_(ladder_options(poller_, program_calls_)) {
    if (!opts_.socklab_command.empty()) labs_ = std::make_unique<LabRunner>(opts_.socklab_command);
    table_.set_filter_text(opts_.filter);
    panels_ = make_panels();
    for (auto& p : panels_)
        if (p->id() == "help") help_ = p.get();
    ctx_.table = &table_;
    ctx_.headless = opts_.headless;
    ctx_.frame = poller_.latest();
    ctx_.lab = labs_ ? &lab_state_ : nullptr;
    ctx_.transitions = &transitions_;
    ctx_.actions.set_paused = [this](bool p) { poller_.set_paused(p); };
    ctx_.actions.set_interval_ms = [this](int ms) { poller_.set_interval(std::chrono::milliseconds(ms)); };
    if (labs_) {
        ctx_.actions.lab_start = [this](const std::string& id, std::uint16_t port, bool predict) {
            // A lab is where a ladder is wanted: capture from its first segment.
            ladder_.start();
            labs_->start(id, port, predict);
        };
        ctx_.actions.lab_next = [this] { labs_->next(); };
        ctx_.actions.lab_answer = [this](int choice) { labs_->answer(choice); };
        ctx_.actions.lab_auto = [this] { labs_->run_auto(); };
        ctx_.actions.lab_stop = [this] { labs_->stop(); };
    }
    ctx_.actions.ladder_select = [this](LadderSelection sel) { ladder_.select(std::move(sel)); };
    ctx_.actions.program_start = [this](std::vector<std::string> cmd) { start_program(std::move(cmd)); };
    ctx_.actions.program_stop = [this] {
        if (program_) program_->stop();
    };
    ctx_.actions.program_scope = [this](bool on) {
        program_scope_ = on;
        table_.set_scope(on && program_state_ ? program_state_->scope : nullptr);
    };
    poller_.start();
    if (opts_.ladder_port != 0) {
        LadderSelection sel;
        sel.mode = LadderSelection::Mode::latest;
        sel.ports = {opts_.ladder_port};
        ladder_.select(std::move(sel));  // the capture is open when this returns
    }
    if (!opts_.program.empty()) start_program(opts_.program);
}

App::~App() {
    program_.reset();  // stops the program's process group
    labs_.reset();  // stops the lab's process group first
    ladder_.stop();  // reads the poller: stopped before it
    poller_.stop();
}

void App::start_program(std::vector<std::string> command) {
    program_.reset();
    program_state_.reset();
    ctx_.program = nullptr;
    program_scope_ = true;
    ladder_ports_.clear();
    // Capture from the program's first segment, so its ladder starts at the handshake.
    ladder_.start();
    ProgramRunnerOptions o;
    o.command = std::move(command);
    o.on_call = [this](const SyscallEvent& e) { program_calls_.push(e); };
    program_ = std::make_unique<ProgramRunner>(std::move(o));
    ProgramPanel::show();  // its tab to the front
}

void App::gather_program() {
    ctx_.program_scope = program_scope_;
    if (!program_) return;
    auto st = program_->state();
    if (st == program_state_) return;
    program_state_ = std::move(st);
    ctx_.program = program_state_.get();
    if (program_scope_) table_.set_scope(program_state_->scope);
    // The ladder follows the program's newest connection.
    if (program_scope_ && !program_state_->ports.empty() && program_state_->ports != ladder_ports_) {
        ladder_ports_ = program_state_->ports;
        LadderSelection sel;
        sel.mode = LadderSelection::Mode::latest;
        sel.ports.insert(ladder_ports_.begin(), ladder_ports_.end());
        ladder_.select(std::move(sel));
    }
}

void App::gather() {
    // vDSO clock read: no system call while drawing.
    ctx_.now_ns = monotonic_ns();
    FramePtr f = poller_.latest();
    if (f != ctx_.frame) {
        ctx_.frame = std::move(f);
        // The selection is an entry id; find where it (and its peer) are now.
        ctx_.selected_row = ctx_.peer_row = -1;
        if (ctx_.selected_id != 0) {
            const auto& rows = ctx_.frame->rows;
            for (std::size_t i = 0; i < rows.size(); ++i)
                if (rows[i].entry_id == ctx_.selected_id) {
                    ctx_.selected_row = static_cast<std::int32_t>(i);
                    ctx_.peer_row = rows[i].peer;
                    break;
                }
        }
    }
    if (!ctx_.paused) {
        scratch_.clear();
        transition_seq_ = poller_.transitions_since(transition_seq_, scratch_);
        transitions_.insert(transitions_.end(), scratch_.begin(), scratch_.end());
        while (transitions_.size() > kMaxTransitions) transitions_.pop_front();
    }
    if (labs_ && labs_->version() != lab_version_) {
        lab_state_ = labs_->state();
        lab_version_ = lab_state_.version;
    }
    gather_program();
    if (ladder_.started()) ctx_.ladder = ladder_.latest();
    ctx_.paused = poller_.paused();
    ctx_.interval_ms = static_cast<int>(poller_.interval().count());
    // A changed filter or sort is sorted here once; every later frame arrives sorted.
    if (table_.version() != posted_view_) {
        poller_.set_view(table_.spec());
        posted_view_ = table_.version();
    }
    table_.update(ctx_.frame, ctx_.now_ns);
}

void App::handle_keys() {
    const ImGuiIO& io = ImGui::GetIO();
    ctx_.focus_filter = false;
    if (io.WantTextInput) return;  // typing in a box: keys are text
    if (ImGui::IsKeyPressed(GLFW_KEY_SPACE, false)) poller_.set_paused(!poller_.paused());
    if (ImGui::IsKeyPressed(GLFW_KEY_SLASH, false)) ctx_.focus_filter = true;
    if (ImGui::IsKeyPressed(GLFW_KEY_F1, false) && help_ != nullptr) help_->open() = !help_->open();
}

void App::draw_menu() {
    if (!ImGui::BeginMainMenuBar()) return;
    if (ImGui::BeginMenu(style::label(N_("View"), "view").c_str())) {
        for (auto& p : panels_) ImGui::MenuItem((p->title() + "###" + p->id()).c_str(), nullptr, &p->open());
        ImGui::EndMenu();
    }
    if (ImGui::BeginMenu(style::label(N_("Polling"), "polling").c_str())) {
        bool paused = poller_.paused();
        if (ImGui::MenuItem(style::label(N_("Pause"), "pause").c_str(), _("space"), &paused)) poller_.set_paused(paused);
        int ms = ctx_.interval_ms;
        ImGui::SetNextItemWidth(200);
        if (ImGui::SliderInt(style::label(N_("interval (ms)"), "interval").c_str(), &ms, static_cast<int>(Poller::kMinInterval.count()),
                             static_cast<int>(Poller::kMaxInterval.count()), "%d ms", ImGuiSliderFlags_Logarithmic))
            poller_.set_interval(std::chrono::milliseconds(ms));
        if (ImGui::MenuItem(style::label(N_("Poll now"), "poll-now").c_str())) poller_.poll_now();
        ImGui::EndMenu();
    }
    if (ImGui::BeginMenu(style::label(N_("Program"), "program").c_str())) {
        if (ImGui::MenuItem(style::label(N_("Run a program…"), "run-program").c_str())) ProgramPanel::show();
        const bool running = ctx_.program != nullptr && ctx_.program->running;
        if (ImGui::MenuItem(style::label(N_("Stop the program"), "stop-program").c_str(), nullptr, false, running))
            program_->stop();
        ImGui::EndMenu();
    }
    if (ImGui::BeginMenu(style::label(N_("Language"), "language").c_str())) {
        // Each language by its own name, so a reader finds theirs whatever is showing now.
        for (const auto& [code, name] : {std::pair{"en", "English"}, std::pair{"ko", "한국어"}}) {
            if (ImGui::MenuItem(name, code, socklab::i18n::language() == code))
                (void)socklab::i18n::init(code);
        }
        ImGui::EndMenu();
    }
    if (ImGui::BeginMenu(style::label(N_("Help"), "help").c_str())) {
        if (help_ != nullptr)
            ImGui::MenuItem(style::label(N_("Keys and colours"), "keys").c_str(), "F1", &help_->open());
        ImGui::EndMenu();
    }
    const Frame& f = *ctx_.frame;
    ImGui::SameLine(ImGui::GetWindowWidth() * 0.5f);
    ImGui::TextColored(style::kAccent, "socklab");
    ImGui::SameLine();
    ImGui::TextDisabled("%s", _("— the kernel's TCP socket table, live"));
    if (ctx_.lab != nullptr && ctx_.lab->running) {
        ImGui::SameLine();
        ImGui::TextColored(style::kWarnText, "%s",
                           socklab::i18n::format(_("| lab: {}"), ctx_.lab->lab_id).c_str());
    }
    (void)f;
    ImGui::EndMainMenuBar();
}

void App::draw(double frame_ms) {
    frame_ms_avg_ = frame_ms_avg_ == 0 ? frame_ms : frame_ms_avg_ * 0.9 + frame_ms * 0.1;
    ctx_.frame_ms = frame_ms_avg_;
    gather();
    handle_keys();
    draw_menu();
    std::vector<std::string> groups_drawn;
    for (auto& p : panels_) {
        if (p->group().empty()) {
            if (p->wants_attention()) {  // asked for elsewhere: open and in front
                p->open() = true;
                ImGui::SetNextWindowFocus();
            }
            p->draw(ctx_);
        } else if (std::find(groups_drawn.begin(), groups_drawn.end(), p->group()) == groups_drawn.end()) {
            groups_drawn.push_back(p->group());
            draw_group(p->group());
        }
    }
}

void App::draw_group(const std::string& group) {
    std::vector<Panel*> members;
    for (auto& p : panels_) {
        if (p->group() != group) continue;
        if (p->wants_attention()) p->open() = true;
        if (p->open()) members.push_back(p.get());
    }
    if (members.empty()) return;
    // The group's window sits where its first member would.
    const PanelRect& r = members.front()->rect();
    const ImGuiViewport* vp = ImGui::GetMainViewport();
    const float top = std::max(vp->WorkPos.y, vp->Pos.y + ImGui::GetFrameHeight());
    const float height = vp->WorkSize.y - (top - vp->WorkPos.y);
    ImGui::SetNextWindowPos(ImVec2(vp->WorkPos.x + r.x * vp->WorkSize.x, top + r.y * height), ImGuiCond_FirstUseEver);
    ImGui::SetNextWindowSize(ImVec2(r.w * vp->WorkSize.x, r.h * height), ImGuiCond_FirstUseEver);
    const std::string label = std::string(_("Tools")) + "###group-" + group;
    if (ImGui::Begin(label.c_str()) && ImGui::BeginTabBar("tabs", ImGuiTabBarFlags_Reorderable)) {
        const bool lab_started = ctx_.lab != nullptr && ctx_.lab->running && !lab_tab_shown_;
        for (Panel* p : members) {
            // A lab that starts brings its tab to the front once.
            // So does a panel asked for from elsewhere.
            const ImGuiTabItemFlags flags =
                (lab_started && p->id() == "labs") || p->wants_attention()
                    ? ImGuiTabItemFlags_SetSelected
                    : 0;
            if (ImGui::BeginTabItem((p->title() + "###" + p->id()).c_str(), &p->open(), flags)) {
                p->draw_tab(ctx_);
                ImGui::EndTabItem();
            }
        }
        if (lab_started) lab_tab_shown_ = true;
        if (ctx_.lab != nullptr && !ctx_.lab->running) lab_tab_shown_ = false;
        ImGui::EndTabBar();
    }
    ImGui::End();
}

bool App::settling() const {
    for (const auto& p : panels_)
        if (p->settling()) return true;
    return false;
}

nlohmann::json App::dump_state() const {
    nlohmann::json panels = nlohmann::json::object();
    for (const auto& p : panels_) panels[p->id()] = p->dump_state(ctx_);
    return {{"frame_seq", ctx_.frame->seq}, {"panels", std::move(panels)}};
}

}  // namespace socklab::viewer
