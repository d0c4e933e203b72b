package sim

// fdPerNode is what one simulated node costs in file descriptors, in the
// sim and again in the coordinator: its map stream's connection (unary
// calls reuse it or close theirs).
const fdPerNode = 1

// fdSpare is what the sim and the coordinator need besides the streams.
const fdSpare = 256
