#include "panels/doctor_panel.hpp"

#include <array>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "socklab/doctor.hpp"
#include "socklab/error.hpp"
#include "socklab/i18n.hpp"
#include "ui/style.hpp"

namespace socklab::viewer {
namespace {

// The three plans the buttons offer, in button order.
enum PlanChoice : int { kTerm = 0, kKill = 1, kDestroy = 2, kChoices = 3 };

struct DoctorView {
    enum class Phase { idle, diagnosing, ready, acting, done, failed };
    Phase phase = Phase::idle;
    std::uint16_t port = 0;
    std::shared_ptr<const Diagnosis> diagnosis;
    std::array<std::shared_ptr<const Plan>, kChoices> plans;
    std::shared_ptr<const FreeResult> result;
    std::string error;
};

const char* phase_name(DoctorView::Phase p) {
    switch (p) {
        case DoctorView::Phase::idle: return "idle";
        case DoctorView::Phase::diagnosing: return "diagnosing";
        case DoctorView::Phase::ready: return "ready";
        case DoctorView::Phase::acting: return "acting";
        case DoctorView::Phase::done: return "done";
        case DoctorView::Phase::failed: return "failed";
    }
    return "unknown";
}

}  // namespace

// Runs diagnose / make_plan / execute off the UI thread and publishes immutable views.
struct DoctorPanel::Worker {
    struct Job {
        std::uint16_t port = 0;
        std::shared_ptr<const Plan> plan;  // null: diagnose only
    };

    Worker() : view_(std::make_shared<const DoctorView>()), thread_([this] { run(); }) {}
    ~Worker() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

    void post(Job job) {
        {
            std::lock_guard lock(mutex_);
            job_ = std::move(job);  // a newer request replaces one not yet started
        }
        cv_.notify_all();
    }

    [[nodiscard]] std::shared_ptr<const DoctorView> view() const {
        std::lock_guard lock(mutex_);
        return view_;
    }

    // A job is waiting or running (its final view not yet published).
    [[nodiscard]] bool busy() const {
        std::lock_guard lock(mutex_);
        return working_ || job_.has_value();
    }

private:
    // The view the UI reads next; `finished` ends the job in the same step, so busy() never
    // says "idle" before the job's final view is there.
    void publish(DoctorView v, bool finished = false) {
        auto p = std::make_shared<const DoctorView>(std::move(v));
        std::lock_guard lock(mutex_);
        view_ = std::move(p);
        if (finished) working_ = false;
    }

    void run() {
        for (;;) {
            Job job;
            std::shared_ptr<const DoctorView> current;
            {
                std::unique_lock lock(mutex_);
                cv_.wait(lock, [this] { return stop_ || job_.has_value(); });
                if (stop_) return;
                job = std::move(*job_);
                job_.reset();
                working_ = true;
                current = view_;
            }
            DoctorView v;
            v.port = job.port;
            try {
                if (job.plan) {
                    v = *current;
                    v.phase = DoctorView::Phase::acting;
                    publish(v);
                    auto result = std::make_shared<const FreeResult>(execute(*job.plan));
                    v.result = result;
                    v.diagnosis = std::make_shared<const Diagnosis>(result->after);
                    v.phase = DoctorView::Phase::done;
                } else {
                    v.phase = DoctorView::Phase::diagnosing;
                    publish(v);
                    auto d = std::make_shared<const Diagnosis>(diagnose(job.port));
                    v.diagnosis = d;
                    PlanOptions term, kill, destroy;
                    kill.kill = true;
                    destroy.mode = ActionMode::destroy;
                    v.plans[kTerm] = std::make_shared<const Plan>(make_plan(*d, term));
                    v.plans[kKill] = std::make_shared<const Plan>(make_plan(*d, kill));
                    v.plans[kDestroy] = std::make_shared<const Plan>(make_plan(*d, destroy));
                    v.phase = DoctorView::Phase::ready;
                }
            } catch (const std::exception& e) {
                v.phase = DoctorView::Phase::failed;
                v.error = e.what();
            }
            publish(std::move(v), /*finished=*/true);
        }
    }

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    bool stop_ = false;
    bool working_ = false;
    std::optional<Job> job_;
    std::shared_ptr<const DoctorView> view_;
    std::thread thread_;  // last: starts after everything it uses exists
};

std::atomic<std::uint32_t> DoctorPanel::asked_port_{0};

namespace {
// What the panel says above the probe table when there is no diagnosis to show.
constexpr const char* kNoPortYet = N_("No port asked about yet.");
constexpr const char* kDiagnosisFailed = N_("The diagnosis failed.");
}  // namespace

DoctorPanel::DoctorPanel()
    : Panel("doctor", N_("Port doctor"), {0.62f, 0.56f, 0.38f, 0.41f}),
      worker_(std::make_unique<Worker>()) {
}

DoctorPanel::~DoctorPanel() = default;

void DoctorPanel::ask(std::uint16_t port) noexcept { asked_port_.store(port); }

namespace {

const char* kind_help(FindingKind k) {
    switch (k) {
        case FindingKind::listener: return N_("A server owns the port. SO_REUSEADDR does not help.");
        case FindingKind::reuseport_group:
            return N_("Listeners sharing the port with SO_REUSEPORT; only the same user may join.");
        case FindingKind::dual_stack: return N_("An IPv6 socket on :: that takes the IPv4 port too.");
        case FindingKind::bound: return N_("Bound, but neither listening nor connected.");
        case FindingKind::connection: return N_("Live connections whose local port is this port.");
        case FindingKind::close_wait:
            return N_("The peer closed; the program never called close(). A leak.");
        case FindingKind::fin_wait2: return N_("We closed; waiting for the peer to close too.");
        case FindingKind::time_wait:
            return N_("Closed first by this side; the kernel keeps it 60 s. Nobody owns it.");
        case FindingKind::udp: return N_("UDP has its own port space: it does not block TCP.");
        case FindingKind::unexplained: return N_("bind() failed and no visible socket explains it.");
    }
    return "";
}

void probe_table(const Diagnosis& d) {
    if (!ImGui::BeginTable("probes", 3, ImGuiTableFlags_Borders | ImGuiTableFlags_SizingFixedFit))
        return;
    ImGui::TableSetupColumn(_("bind() to"));
    ImGui::TableSetupColumn(_("plain"));
    ImGui::TableSetupColumn(_("with SO_REUSEADDR"));
    ImGui::TableHeadersRow();
    for (const char* addr : {"127.0.0.1", "0.0.0.0", "::"}) {
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(addr);
        for (bool reuse : {false, true}) {
            ImGui::TableNextColumn();
            for (const auto& p : d.probes) {
                if (p.address != addr || p.reuseaddr != reuse) continue;
                if (p.ok())
                    ImGui::TextColored(style::kOkText, "%s", _("binds"));
                else
                    ImGui::TextColored(style::kBadText, "%s", std::strerror(p.error));
            }
        }
    }
    ImGui::EndTable();
}

}  // namespace

void DoctorPanel::draw_content(UiContext&) {
    if (const auto asked = asked_port_.exchange(0); asked != 0) {
        port_input_ = static_cast<int>(asked);
        worker_->post({static_cast<std::uint16_t>(asked), nullptr});
    }
    const auto v = worker_->view();
    const bool busy = v->phase == DoctorView::Phase::diagnosing ||
                      v->phase == DoctorView::Phase::acting;

    ImGui::SetNextItemWidth(110);
    const bool entered = ImGui::InputInt(style::label(N_("Port"), "port").c_str(), &port_input_, 0, 0,
                                         ImGuiInputTextFlags_EnterReturnsTrue);
    const bool valid = port_input_ >= 1 && port_input_ <= 65535;
    ImGui::SameLine();
    ImGui::BeginDisabled(busy || !valid);
    if ((ImGui::Button(style::label(N_("Why is it busy?"), "why").c_str()) || entered) && valid && !busy)
        worker_->post({static_cast<std::uint16_t>(port_input_), nullptr});
    ImGui::EndDisabled();
    style::help_marker(
        _("The doctor tries bind() for real on 127.0.0.1, 0.0.0.0 and :: (with and without "
          "SO_REUSEADDR), with throwaway sockets it closes at once, then explains what is in the "
          "way. Also: right-click a row in the socket table."));
    if (!valid && port_input_ != 0) ImGui::TextColored(style::kWarnText, "%s", _("A port is 1 to 65535."));

    switch (v->phase) {
        case DoctorView::Phase::idle:
            empty_state(_(kNoPortYet),
                        _("Type a port and press Enter, or right-click a row in the socket table "
                          "and choose \"Why is this port busy?\"."));
            return;
        case DoctorView::Phase::diagnosing:
            ImGui::TextDisabled("%s", socklab::i18n::format(_("Probing port {} ..."), v->port).c_str());
            return;
        case DoctorView::Phase::failed:
            not_permitted_state(_(kDiagnosisFailed), v->error);
            return;
        default: break;
    }
    if (!v->diagnosis) return;
    const Diagnosis& d = *v->diagnosis;
    ImGui::Separator();
    if (d.bindable())
        ImGui::TextColored(style::kOkText, "%s", socklab::i18n::format(_("Port {}/tcp can be bound now."), d.port).c_str());
    else if (d.bindable_with_reuseaddr())
        ImGui::TextColored(style::kWarnText, "%s",
                           socklab::i18n::format(_("Port {}/tcp: only a server that sets SO_REUSEADDR can bind it now."),
                                                 d.port).c_str());
    else
        ImGui::TextColored(style::kBadText, "%s", socklab::i18n::format(_("Port {}/tcp cannot be bound now."), d.port).c_str());
    probe_table(d);
    if (d.hidden_owners > 0 && d.euid != 0)
        not_permitted_state(_("Some owners are hidden from you."),
                            _("Other users' /proc/<pid>/fd is private. Run: sudo socklab-viewer"));

    int n = 0;
    for (const auto& f : d.findings) {
        ImGui::PushID(n++);
        const std::string head = "[" + std::string(finding_kind_name(f.kind)) + "] " + f.summary;
        ImGui::PushStyleColor(ImGuiCol_Text, f.blocks ? style::kWarnText : style::kDimText);
        const bool open = ImGui::CollapsingHeader(head.c_str(), ImGuiTreeNodeFlags_DefaultOpen);
        ImGui::PopStyleColor();
        style::item_tooltip(_(kind_help(f.kind)));
        if (open) {
            ImGui::PushTextWrapPos(0.0f);
            ImGui::TextUnformatted(f.explanation.c_str());
            ImGui::PopTextWrapPos();
            for (const auto& s : f.sockets) {
                style::state_chip(s.state, s.proto, 96.0f);
                ImGui::SameLine();
                std::string line = format_endpoint(s.local_addr, s.local_port);
                if (s.remote_port != 0) line += " <-> " + format_endpoint(s.remote_addr, s.remote_port);
                if (s.timer != TimerKind::none && s.timer_ms > 0)
                    line += "   " + style::timer_text(static_cast<std::uint8_t>(s.timer), s.timer_ms, s.state);
                if (s.inode == 0) line += _("   owner: none");
                ImGui::TextUnformatted(line.c_str());
            }
        }
        ImGui::PopID();
    }
    if (d.findings.empty()) empty_state(_("Nothing holds this port."));

    draw_actions();
    if (v->result) {
        ImGui::Separator();
        ImGui::TextColored(style::kAccent, "%s", _("Result"));
        for (const auto& r : v->result->results) {
            const bool ok = r.outcome == Outcome::done;
            ImGui::PushStyleColor(ImGuiCol_Text, ok ? style::kOkText : style::kWarnText);
            ImGui::PushTextWrapPos(0.0f);
            ImGui::BulletText("[%s] %s", std::string(outcome_name(r.outcome)).c_str(),
                              r.message.c_str());
            ImGui::PopTextWrapPos();
            ImGui::PopStyleColor();
        }
        if (v->result->bindable())
            ImGui::TextColored(style::kOkText, "%s", _("Checked with a real bind(): the port is free."));
        else
            ImGui::TextColored(style::kBadText, "%s", _("Checked with a real bind(): still in use."));
    }
    if (v->phase == DoctorView::Phase::acting) ImGui::TextDisabled("%s", _("Acting ..."));
    draw_confirm();
}

void DoctorPanel::draw_actions() {
    const auto v = worker_->view();
    if (!v->diagnosis || v->diagnosis->bindable() || v->phase == DoctorView::Phase::acting) return;
    ImGui::Separator();
    static constexpr std::array<const char*, kChoices> kLabels{
        N_("Ask the owners to exit (SIGTERM)"), N_("SIGTERM, then SIGKILL"), N_("Destroy the sockets")};
    static constexpr std::array<const char*, kChoices> kHelp{
        N_("Sends SIGTERM through a pidfd opened when the port was diagnosed, so a recycled pid "
           "is never hit. A well-behaved server closes its sockets and exits."),
        N_("SIGTERM first; whatever still runs after 3 s gets SIGKILL, which cannot be caught: "
           "the program gets no chance to clean up."),
        N_("SOCK_DESTROY (what ss -K does): clears CLOSE_WAIT and TIME_WAIT sockets and closes "
           "listeners without killing anything. Needs root.")};
    for (int i = 0; i < kChoices; ++i) {
        const auto& plan = v->plans[static_cast<std::size_t>(i)];
        if (i > 0) ImGui::SameLine();
        ImGui::BeginDisabled(!plan || plan->runnable() == 0);
        const std::string id = "action-" + std::to_string(i);
        if (ImGui::Button(style::label(kLabels[static_cast<std::size_t>(i)], id.c_str()).c_str())) {
            confirm_choice_ = i;
            ImGui::OpenPopup(style::label(N_("Confirm"), "confirm-doctor").c_str());
        }
        ImGui::EndDisabled();
        style::item_tooltip(_(kHelp[static_cast<std::size_t>(i)]));
    }
}

void DoctorPanel::draw_confirm() {
    if (!ImGui::BeginPopupModal(style::label(N_("Confirm"), "confirm-doctor").c_str(), nullptr, ImGuiWindowFlags_AlwaysAutoResize))
        return;
    const auto v = worker_->view();
    const auto plan = confirm_choice_ >= 0 && confirm_choice_ < kChoices
                          ? v->plans[static_cast<std::size_t>(confirm_choice_)]
                          : nullptr;
    if (!plan) {
        ImGui::CloseCurrentPopup();
        ImGui::EndPopup();
        return;
    }
    ImGui::TextUnformatted(socklab::i18n::format(_("Free port {}: this will"), plan->port).c_str());
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 40.0f);
    for (const auto& a : plan->actions) {
        if (a.refused.empty())
            ImGui::BulletText("%s", a.description.c_str());
        else
            ImGui::TextColored(style::kDimText, "%s",
                               socklab::i18n::format(_("  not: {} ({})"), a.description, a.refused).c_str());
    }
    for (const auto& note : plan->notes)
        ImGui::TextColored(style::kDimText, "%s", socklab::i18n::format(_("note: {}"), note).c_str());
    ImGui::TextDisabled("%s", _("Each owner is re-checked right before acting; the port is then "
                                "checked with a real bind()."));
    ImGui::PopTextWrapPos();
    if (ImGui::Button(style::label(N_("Do it"), "do-it").c_str())) {
        worker_->post({plan->port, plan});
        ImGui::CloseCurrentPopup();
    }
    ImGui::SameLine();
    if (ImGui::Button(style::label(N_("Cancel"), "cancel").c_str()) || ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Escape))) ImGui::CloseCurrentPopup();
    ImGui::EndPopup();
}

bool DoctorPanel::wants_attention() const { return asked_port_.load() != 0; }

bool DoctorPanel::settling() const {
    // Asked but not yet picked up by a frame, or the worker is on it.
    return asked_port_.load() != 0 || worker_->busy();
}

nlohmann::json DoctorPanel::dump_state(const UiContext&) const {
    const auto v = worker_->view();
    nlohmann::json j{{"phase", phase_name(v->phase)}, {"port", v->port}, {"error", v->error}};
    if (v->phase == DoctorView::Phase::idle) j["message"] = kNoPortYet;
    if (v->phase == DoctorView::Phase::failed) j["message"] = kDiagnosisFailed;
    if (v->diagnosis) {
        j["bindable"] = v->diagnosis->bindable();
        auto kinds = nlohmann::json::array();
        for (const auto& f : v->diagnosis->findings) kinds.push_back(finding_kind_name(f.kind));
        j["findings"] = std::move(kinds);
        // What the probe table shows: "binds" or the reason bind() failed.
        auto probes = nlohmann::json::array();
        for (const auto& p : v->diagnosis->probes)
            probes.push_back({{"address", p.address},
                              {"reuseaddr", p.reuseaddr},
                              {"shown", p.ok() ? std::string("binds") : std::strerror(p.error)}});
        j["probes"] = std::move(probes);
    }
    if (v->result) j["result_bindable"] = v->result->bindable();
    return j;
}

}  // namespace socklab::viewer
