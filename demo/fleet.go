// Package demo runs hwtrack with the sample Yongkang fleet: it starts the
// server on loopback, a sample regulator broker that logs what it receives,
// and drives the sample trucks along their routes with the simulator, so a
// newcomer sees positions, deviations and forwarded messages within a
// minute.
package demo

import (
	"errors"
	"fmt"
	"os"

	"github.com/paulmach/orb"
	"gopkg.in/yaml.v3"

	"github.com/hwtrack/hwtrack/model"
)

// Fleet is the sample fleet file (configs/demo.yaml).
type Fleet struct {
	Vehicles []Vehicle          `yaml:"vehicles"`
	Bookings map[string]Booking `yaml:"bookings"`
	// Users are sample console accounts, created when missing.
	Users []User `yaml:"users"`
}

// User is a sample console account with a public sample password.
type User struct {
	Username    string `yaml:"username"`
	Password    string `yaml:"password"`
	Role        string `yaml:"role"`
	DisplayName string `yaml:"display_name"`
}

// Vehicle is one sample truck and the run it repeats.
type Vehicle struct {
	Terminal  string       `yaml:"terminal"`
	Plate     string       `yaml:"plate"`
	Password  string       `yaml:"password"`
	Driver    string       `yaml:"driver"`
	Escort    string       `yaml:"escort"`
	SpeedKmh  float64      `yaml:"speed_kmh"`
	CorridorM float64      `yaml:"corridor_m"`
	Route     [][2]float64 `yaml:"route"`
	// Driven is the path the truck really takes; empty means the route.
	Driven   [][2]float64 `yaml:"driven"`
	Bookings []string     `yaml:"bookings"`
}

// Booking is a sample shipper and its wastes.
type Booking struct {
	Shipper model.Shipper `yaml:"shipper"`
	Wastes  []model.Waste `yaml:"wastes"`
}

// LoadFleet reads and checks a fleet file.
func LoadFleet(path string) (*Fleet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read demo fleet: %w", err)
	}
	var f Fleet
	dec := yaml.NewDecoder(bytesReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("demo fleet %s: %w", path, err)
	}
	var errs []error
	for i, v := range f.Vehicles {
		if len(v.Route) < 2 {
			errs = append(errs, fmt.Errorf("vehicles[%d].route: needs at least two points", i))
		}
		if v.SpeedKmh <= 0 {
			errs = append(errs, fmt.Errorf("vehicles[%d].speed_kmh: must be positive", i))
		}
		for _, b := range v.Bookings {
			if _, ok := f.Bookings[b]; !ok {
				errs = append(errs, fmt.Errorf("vehicles[%d].bookings: %q is not defined under bookings", i, b))
			}
		}
	}
	if len(f.Vehicles) == 0 {
		errs = append(errs, errors.New("vehicles: the fleet is empty"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("demo fleet %s: %w", path, err)
	}
	return &f, nil
}

func lineString(points [][2]float64) orb.LineString {
	ls := make(orb.LineString, len(points))
	for i, p := range points {
		ls[i] = orb.Point{p[0], p[1]}
	}
	return ls
}
