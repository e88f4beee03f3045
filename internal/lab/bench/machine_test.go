package bench

import "testing"

func TestParseCPULine(t *testing.T) {
	busy, total, err := parseCPULine("cpu  100 5 50 800 40 1 4 0 7 0")
	if err != nil || busy != 160 || total != 1000 {
		t.Errorf("parseCPULine = %d, %d, %v; want 160, 1000", busy, total, err)
	}
	if _, _, err := parseCPULine("cpu0 1 2 3"); err == nil {
		t.Error("bad line accepted")
	}
}
