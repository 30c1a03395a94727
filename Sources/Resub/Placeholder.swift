// Resub
