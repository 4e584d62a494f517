// socklab — see the kernel's socket table, run the labs, ask the port doctor.
#include <iostream>

#include "app.hpp"
#include "socklab/args.hpp"
#include "socklab/tracer.hpp"

int main(int argc, char** argv) {
    // A trace, run or export killed by a signal it does not handle leaves no tracing instance.
    socklab::Tracer::remove_instances_on_exit();
    socklab::cli::init_language(argc, argv);  // before any help text is written
    socklab::cli::SocklabCli cli;
    if (const auto code = cli.parse(argc, argv, std::cout, std::cerr)) return *code;
    return cli.run();
}
