#pragma once
// Port doctor: type a port (or right-click a row in the socket table → "Why is this port
// busy?") and see why it cannot be bound, with buttons for the same guarded actions as
// `socklab free`, a confirmation naming the processes and sockets, and the verified result.
// The diagnosis and the actions run on the panel's own worker thread; the UI thread only
// reads the immutable snapshots it publishes and makes no system calls.
// `socklab-viewer --doctor PORT` asks about PORT at start (also for headless screenshots).
#include <atomic>
#include <cstdint>
#include <memory>

#include "ui/panel.hpp"

namespace socklab::viewer {

class DoctorPanel : public Panel {
public:
    DoctorPanel();
    ~DoctorPanel() override;

    // Ask the doctor about a port, from any panel (the table's context menu). Lock-free and
    // free of system calls: the panel picks it up on its next frame.
    static void ask(std::uint16_t port) noexcept;

    nlohmann::json dump_state(const UiContext& ctx) const override;
    [[nodiscard]] bool settling() const override;
    [[nodiscard]] bool wants_attention() const override;

    struct Worker;  // defined in doctor_panel.cpp

protected:
    void draw_content(UiContext& ctx) override;

private:
    void draw_actions();
    void draw_confirm();

    std::unique_ptr<Worker> worker_;
    int port_input_ = 0;
    int confirm_choice_ = -1;  // which plan the open confirmation dialog is about
    static std::atomic<std::uint32_t> asked_port_;
};

}  // namespace socklab::viewer
