# Included by ctest after helper_priv_test's discovered tests: the member's socklab run and
# check tests trace port 9301, as tests/run's run_check_test does, so they take that lock too
# (the transition tracepoint reports every network namespace: two tests on one port would see
# each other's connections).
foreach(t HelperCli.MemberRunNamesTheCloseWaitLeakAndTheRecvZeroLoopWithPidAndFd
          HelperCli.MemberCheckFailsPeerClosesFirstWithTheRecvZeroEvidence
          HelperCli.MemberCheckPassesTheCarefulServerOnEveryScenario
          HelperCli.MemberRunLeavesOutTheCallsOfAnotherUsersProcessInItsTree)
    set_tests_properties(${t} PROPERTIES RESOURCE_LOCK "socklab-system-group;traced-port-9301")
endforeach()
