package demo

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/hwtrack/hwtrack/simulator"
)

// driver repeats one sample truck's run: book, dispatch, drive, complete.
type driver struct {
	fleet  *Fleet
	v      Vehicle
	api    *simulator.APIClient
	broker string
	log    *slog.Logger
	lane   int
	// clip is the video the truck's cameras play on channels. A nil clip
	// means the truck has no cameras.
	clip     *simulator.Clip
	channels []int
}

func (d *driver) loop(ctx context.Context) {
	if err := d.register(ctx); err != nil {
		d.log.Error("demo vehicle not registered", "err", err)
		return
	}
	for ctx.Err() == nil {
		if err := d.lap(ctx); err != nil && !errors.Is(err, errStopped) && ctx.Err() == nil {
			d.log.Warn("demo run failed; retrying", "err", err)
		}
		if sleepCtx(ctx, lapPause) != nil {
			return
		}
	}
}

func (d *driver) register(ctx context.Context) error {
	err := d.api.RegisterVehicle(ctx, simulator.VehicleRequest{Terminal: d.v.Terminal, Plate: d.v.Plate, Password: d.v.Password})
	var apiErr *simulator.APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict {
		err = nil // registered by an earlier demo run
	}
	if err != nil {
		return err
	}

	// A demo stopped in the middle of a run leaves that trip dispatched,
	// and an open trip blocks the next one; the sample truck starts afresh.
	open, err := d.api.OpenTrips(ctx, d.v.Terminal)
	if err != nil {
		return err
	}
	for _, id := range open {
		if err := d.api.CompleteTrip(ctx, id); err != nil {
			return err
		}
		d.log.Info("trip left open by an earlier demo run completed", "trip_id", id)
	}
	return nil
}

func (d *driver) lap(ctx context.Context) error {
	now := time.Now()
	var bookingIDs []string
	for i, name := range d.v.Bookings {
		b := d.fleet.Bookings[name]
		// Serial: the lap's start second, the truck and the booking, so
		// manifest numbers stay distinct across laps and demo restarts.
		serial := int(now.Unix()%10000)*100 + d.lane*10 + i
		id, err := d.api.CreateBooking(ctx, simulator.BookingRequest{ManifestNo: manifestNo(now, serial), Shipper: b.Shipper, Wastes: b.Wastes})
		if err != nil {
			return err
		}
		bookingIDs = append(bookingIDs, id)
	}

	path := d.v.Driven
	if len(path) == 0 {
		path = d.v.Route
	}
	fixes := simulator.DriveAlong(lineString(path), now, d.v.SpeedKmh, 2*time.Second, simulator.WithNoise(3, uint64(now.UnixNano())))
	end := fixes[len(fixes)-1].Time

	tripID, err := d.api.CreateTrip(ctx, simulator.TripRequest{
		Terminal: d.v.Terminal, Driver: d.v.Driver, Escort: d.v.Escort,
		Route: lineString(d.v.Route), CorridorM: d.v.CorridorM, Bookings: bookingIDs,
		PlannedStart: now.Add(-time.Second), PlannedEnd: end.Add(10 * time.Minute),
	})
	if err != nil {
		return err
	}
	d.log.Info("demo trip dispatched", "trip_id", tripID, "fixes", len(fixes), "duration", end.Sub(now).Round(time.Second).String())

	pub, err := simulator.NewPublisher(ctx, simulator.PublisherConfig{Broker: d.broker, Terminal: d.v.Terminal, Password: d.v.Password, QoS: 1})
	if err != nil {
		return err
	}
	defer pub.Close()
	if cam := d.startCamera(ctx, pub); cam != nil {
		defer cam.Close()
	}
	if _, err := pub.Play(ctx, fixes, 1); err != nil {
		return err
	}
	// The trip is completed with a fresh context so a stop in the middle of
	// the run does not leave the trip open.
	doneCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.api.CompleteTrip(doneCtx, tripID)
}

// startCamera runs the truck's simulated camera while it drives. The
// camera shares the fix publisher's MQTT connection, as the cameras of a
// real onboard unit do. It returns nil when the truck has no cameras or
// the camera did not start, and the truck then drives without one.
func (d *driver) startCamera(ctx context.Context, pub *simulator.Publisher) *simulator.Camera {
	if d.clip == nil || len(d.channels) == 0 {
		return nil
	}
	cam, err := simulator.StartCamera(ctx, simulator.CameraConfig{
		Client: pub.Client(), Terminal: d.v.Terminal, Channels: d.channels, Clip: d.clip,
		LoopbackOnly: true, Logger: d.log,
	})
	if err != nil {
		d.log.Warn("demo camera not started; the truck drives without one", "err", err)
		return nil
	}
	return cam
}
