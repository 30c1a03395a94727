// ResubTests
