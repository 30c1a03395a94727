// ResubService
