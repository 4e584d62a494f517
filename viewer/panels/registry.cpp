// The registration point. To add a panel:
//   1. write panels/<name>_panel.hpp/.cpp: a class deriving from Panel (ui/panel.hpp) with a
//      constructor giving its id, title and default place, draw_content() with explicit
//      empty and "not permitted" states, and dump_state() for --dump-state;
//   2. add one line below. The View menu, the window, imgui.ini and --dump-state follow.
//      To share a window with other panels as tabs, give it a group (see "tools" below).
#include "panels/registry.hpp"

#include "panels/diagram_panel.hpp"
#include "panels/doctor_panel.hpp"
#include "panels/event_log_panel.hpp"
#include "panels/help_panel.hpp"
#include "panels/lab_panel.hpp"
#include "panels/ladder_panel.hpp"
#include "panels/program_panel.hpp"
#include "panels/status_panel.hpp"
#include "panels/table_panel.hpp"
#include "panels/timeline_panel.hpp"

namespace socklab::viewer {

std::vector<std::unique_ptr<Panel>> make_panels() {
    std::vector<std::unique_ptr<Panel>> p;
    p.push_back(std::make_unique<TablePanel>());
    p.push_back(std::make_unique<DiagramPanel>());
    p.push_back(std::make_unique<TimelinePanel>());
    // Bottom right: one window, one tab each (Dear ImGui 1.86 has no docking).
    p.push_back(std::make_unique<LabPanel>());
    p.back()->set_group("tools");
    p.push_back(std::make_unique<DoctorPanel>());
    p.back()->set_group("tools");
    p.push_back(std::make_unique<EventLogPanel>());
    p.back()->set_group("tools");
    p.push_back(std::make_unique<ProgramPanel>());
    p.back()->set_group("tools");
    p.push_back(std::make_unique<LadderPanel>());  // closed until asked for
    p.push_back(std::make_unique<StatusPanel>());
    p.push_back(std::make_unique<HelpPanel>());  // keep last: drawn on top
    return p;
}

}  // namespace socklab::viewer
