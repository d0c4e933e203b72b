package sim

// fdPerNode is what one simulated node costs in file descriptors, in the
// sim and again in the coordinator: its map stream's connection (unary
// calls reuse it or close theirs).
const fdPerNode = 1

// fdsFor is the descriptors nodes cost when streamsPerConn share each
// connection (in the sim and in the
// coordinator): StreamsPerConn nodes share it.
func fdsFor(nodes, streamsPerConn int) int {
	return (nodes + streamsPerConn - 1) / streamsPerConn * fdPerNode
}

// fdSpare is what the sim and the coordinator need besides the streams.
const fdSpare = 256
