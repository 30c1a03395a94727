print("resub")
