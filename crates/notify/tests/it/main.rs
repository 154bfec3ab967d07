//! The MQTT relay against a real Mosquitto: the system broker at 127.0.0.1:1883, and a broker
//! of the test's own (`/usr/sbin/mosquitto` on a free port) that is stopped and started again.
//! Outside CI a missing broker skips a test with a note; with `CI=true` it fails.

mod mqtt;
