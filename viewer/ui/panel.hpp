#pragma once
// A panel is one class in one file pair (panels/<name>_panel.{hpp,cpp}). The base owns the
// window (Begin/End, default place and size, open/closed); a panel draws its content and
// says what it shows for --dump-state. Register a new panel with one line in
// panels/registry.cpp.
#include <string>

#include <imgui.h>
#include <nlohmann/json.hpp>

#include "ui/context.hpp"

namespace socklab::viewer {

// Where a panel sits on first start, in fractions of the work area (x, y, w, h).
struct PanelRect {
    float x = 0, y = 0, w = 0.5f, h = 0.5f;
};

class Panel {
public:
    Panel(std::string id, std::string title, PanelRect rect, bool open = true);
    virtual ~Panel() = default;
    Panel(const Panel&) = delete;
    Panel& operator=(const Panel&) = delete;

    // Begin the window, draw the content, End. Skipped when the panel is closed.
    void draw(UiContext& ctx);
    // A key under which --dump-state lists what this panel shows.
    [[nodiscard]] const std::string& id() const noexcept { return id_; }
    // The title in the current language (title_ is the English msgid).
    [[nodiscard]] std::string title() const;
    [[nodiscard]] bool& open() noexcept { return open_; }
    virtual nlohmann::json dump_state(const UiContext& ctx) const = 0;
    // Still busy with something asked of it (a diagnosis, say). Headless runs keep drawing
    // until no panel is, so a screenshot or dump shows the answer rather than "working...".
    [[nodiscard]] virtual bool settling() const { return false; }
    // Something the user asked of it elsewhere is waiting (the table's "Why is this port
    // busy?", --doctor PORT): the panel opens and its tab comes to the front.
    [[nodiscard]] virtual bool wants_attention() const { return false; }

    // Panels of one group share a window as tabs (set at registration, in registry.cpp).
    void set_group(std::string group) { group_ = std::move(group); }
    [[nodiscard]] const std::string& group() const noexcept { return group_; }
    [[nodiscard]] const PanelRect& rect() const noexcept { return rect_; }
    // The content alone, inside a tab of a group window the app owns.
    void draw_tab(UiContext& ctx) { draw_content(ctx); }

protected:
    virtual void draw_content(UiContext& ctx) = 0;
    virtual ImGuiWindowFlags window_flags() const { return 0; }
    // ImGuiCond_Always pins the panel (the status bar); others may be moved and are saved.
    virtual ImGuiCond placement() const { return ImGuiCond_FirstUseEver; }

    // The explicit states every panel has (Tracy's "No messages were collected").
    static void empty_state(const char* what, const char* hint = nullptr);
    static void not_permitted_state(const char* what, const std::string& how);

private:
    std::string id_;
    std::string title_;  // window title (msgid); "###id" keeps the ini entry and state stable across languages
    PanelRect rect_;
    bool open_ = true;
    std::string group_;
};

}  // namespace socklab::viewer
