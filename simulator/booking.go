package simulator

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// Yongkang's administrative codes: Zhejiang is 33, Jinhua prefecture 3307
// and Yongkang county 330784.
const (
	manifestRegion = "3307"
	creditRegion   = "330784"
)

// sampleWastes are typical loads of a Yongkang collection run: waste
// packaging from hardware workshops and used mineral oil from machining.
var sampleWastes = []model.Waste{
	{Code: "900-041-49", Name: "废弃包装物", Form: "固态", Hazard: "T/In", Packaging: "吨袋", Count: 2, WeightKg: 350},
	{Code: "900-249-08", Name: "废矿物油", Form: "液态", Hazard: "T/I", Packaging: "铁桶", Count: 4, WeightKg: 760},
}

var (
	sampleDrivers = []string{"王建国", "李志强", "陈海峰", "周明", "吴小军"}
	sampleEscorts = []string{"张丽", "刘芳", "黄静", "徐燕", "孙莉"}
)

// manifestNumber returns a 14-digit transfer manifest number: the year,
// the province and prefecture code 3307 and a 6-digit serial.
func manifestNumber(year int, serial int) string {
	return fmt.Sprintf("%04d%s%06d", year, manifestRegion, serial%1_000_000)
}

// sampleBooking builds a booking for a shipper at the track's start.
func sampleBooking(start model.Fix, year, serial int, name string) BookingRequest {
	return BookingRequest{
		ManifestNo: manifestNumber(year, serial),
		Shipper: model.Shipper{
			Name:       name,
			CreditCode: creditCode(fmt.Sprintf("%08d", serial%100_000_000)),
			Lat:        start.Lat,
			Lon:        start.Lon,
		},
		Wastes: append([]model.Waste(nil), sampleWastes...),
	}
}

// creditCode builds an 18-character unified social credit code (GB
// 32100-2015) for an enterprise (category 9, type 1) registered in
// Yongkang, from an 8-digit organisation body. Both check characters are
// computed, so a server that verifies them accepts the code.
func creditCode(orgBody string) string {
	org := orgBody + orgCheck(orgBody)
	body := "91" + creditRegion + org
	return body + creditCheck(body)
}

// orgCheck computes the GB 11714 organisation code check character.
func orgCheck(body string) string {
	weights := []int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := range 8 {
		sum += orgValue(body[i]) * weights[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return "X"
	case 11:
		return "0"
	default:
		return fmt.Sprint(c)
	}
}

func orgValue(c byte) int {
	if c >= '0' && c <= '9' {
		return int(c - '0')
	}
	return int(c-'A') + 10
}

// creditAlphabet is the GB 32100 character set: digits and capitals
// without I, O, S, V and Z.
const creditAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// creditCheck computes the GB 32100 check character of a 17-character body.
func creditCheck(body string) string {
	weights := []int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	sum := 0
	for i := range 17 {
		sum += strings.IndexByte(creditAlphabet, body[i]) * weights[i]
	}
	c := (31 - sum%31) % 31
	return creditAlphabet[c : c+1]
}

// randomPassword returns a vehicle password of n characters from crypto/rand.
func randomPassword(n int) (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, n)
	for i := range out {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", fmt.Errorf("generate password: %w", err)
		}
		out[i] = alphabet[k.Int64()]
	}
	return string(out), nil
}

// randomDigits returns a random number below 10^n from crypto/rand.
func randomDigits(n int) (int, error) {
	limit := int64(1)
	for range n {
		limit *= 10
	}
	k, err := rand.Int(rand.Reader, big.NewInt(limit))
	if err != nil {
		return 0, fmt.Errorf("generate number: %w", err)
	}
	return int(k.Int64()), nil
}

// tripWindow returns the planned start and end of a replayed trip: from a
// minute before the first fix until the replay has had time to finish,
// plus half an hour, so the server does not see the trip as overtime.
func tripWindow(first, last time.Time, wallClock time.Duration) (time.Time, time.Time) {
	return first.Add(-time.Minute), last.Add(wallClock + 30*time.Minute)
}
