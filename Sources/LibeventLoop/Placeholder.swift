// LibeventLoop
