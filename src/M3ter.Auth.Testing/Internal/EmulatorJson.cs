using System;
using System.Buffers;
using System.Text.Json;

namespace M3ter.Auth.Testing.Internal;

/// <summary>Writes the emulator's JSON bodies with <see cref="Utf8JsonWriter"/>: no reflection, so it is trimming- and AOT-safe.</summary>
internal static class EmulatorJson
{
    public static byte[] Write(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>m3ter's error body: <c>{"message": ...}</c>.</summary>
    public static byte[] Message(string message) => Write(w => w.WriteString("message", message));
}
