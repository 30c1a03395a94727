// LibeventLoopTests
