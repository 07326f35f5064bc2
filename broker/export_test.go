package broker

// clientsOf returns how many live connections terminal has.
func (b *Broker) clientsOf(terminal string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.online[terminal])
}
