// ResubServiceTests
