using System;
using System.Collections.Generic;

namespace M3ter.Auth.Testing;

/// <summary>A request the <see cref="M3terEmulator"/> received, and how it answered.</summary>
public sealed class M3terRecordedRequest
{
    internal M3terRecordedRequest(M3terRequestKind kind, string method, string path, IReadOnlyDictionary<string, string> headers, byte[] body, DateTimeOffset receivedAt)
    {
        Kind = kind;
        Method = method;
        Path = path;
        Headers = headers;
        Body = body;
        ReceivedAt = receivedAt;
    }

    /// <summary>Gets which API the request went to.</summary>
    public M3terRequestKind Kind { get; }

    /// <summary>Gets the HTTP method.</summary>
    public string Method { get; }

    /// <summary>Gets the path, with the query string if there was one.</summary>
    public string Path { get; }

    /// <summary>Gets the request headers (names case-insensitive; repeated headers joined with commas).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; }

    /// <summary>Gets the request body.</summary>
    public byte[] Body { get; }

    /// <summary>Gets when the emulator received the request.</summary>
    public DateTimeOffset ReceivedAt { get; }

    /// <summary>Gets the status code the emulator answered with (0 when it dropped the connection).</summary>
    public int StatusCode { get; internal set; }

    /// <summary>Gets the <c>Authorization</c> header, or null.</summary>
    public string? Authorization => Headers.TryGetValue("Authorization", out string? value) ? value : null;

    /// <summary>Gets the bearer token the request carried, or null.</summary>
    public string? BearerToken =>
        Authorization is string value && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? value.Substring(7) : null;

    /// <summary>Gets the body as UTF-8 text.</summary>
    public string BodyText => System.Text.Encoding.UTF8.GetString(Body);

    /// <inheritdoc />
    public override string ToString() => $"{Method} {Path} -> {StatusCode}";
}
