using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Configuration;
using Transport;
using Transport.WebSockets;
using Transport.WebSockets.DependencyInjection;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Configures a transport registered with <c>AddWebSocketTransport</c>. Every method may be called in any order.</summary>
public static class WebSocketTransportBuilderExtensions
{
    /// <summary>Binds the transport's options to a configuration section (for example <c>configuration.GetSection("Transports:binance")</c>).</summary>
    /// <param name="builder">The transport.</param>
    /// <param name="section">The section; its keys are <see cref="TransportOptions"/> property paths (Uri, Reconnect:MinBackoff, ...).</param>
    /// <returns>The builder.</returns>
    public static IWebSocketTransportBuilder BindConfiguration(this IWebSocketTransportBuilder builder, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(section);
        builder.Services.AddOptions<TransportOptions>(builder.Name).Bind(section);
        return builder;
    }

    /// <summary>
    /// Binds the transport's options to the configuration section at <paramref name="sectionPath"/> of the
    /// app's <see cref="IConfiguration"/> (resolved from the container), as <c>OptionsBuilder.BindConfiguration</c>
    /// does: <c>.BindConfiguration("Transports:binance")</c>.
    /// </summary>
    /// <param name="builder">The transport.</param>
    /// <param name="sectionPath">The section's path (keys separated by <c>:</c>); its keys are <see cref="TransportOptions"/> property paths.</param>
    /// <returns>The builder.</returns>
    /// <remarks>A section that does not exist fails validation at start, naming the path (a typo otherwise shows as a missing <c>Uri</c>).</remarks>
    public static IWebSocketTransportBuilder BindConfiguration(this IWebSocketTransportBuilder builder, string sectionPath)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(sectionPath);
        builder.Services.AddOptions<TransportOptions>(builder.Name).BindConfiguration(sectionPath);
        builder.Services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<TransportOptions>>(sp =>
            new ConfigurationSectionValidator(builder.Name, sectionPath, sp.GetRequiredService<IConfiguration>()));
        return builder;
    }

    /// <summary>Edits the transport's options (applied in registration order with <see cref="BindConfiguration(IWebSocketTransportBuilder, IConfiguration)"/>).</summary>
    /// <param name="builder">The transport.</param>
    /// <param name="configure">The edit.</param>
    /// <returns>The builder.</returns>
    public static IWebSocketTransportBuilder Configure(this IWebSocketTransportBuilder builder, Action<TransportOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddOptions<TransportOptions>(builder.Name).Configure(configure);
        return builder;
    }

    /// <summary>
    /// Uses <typeparamref name="TAuth"/> as the auth source: the registered service if there is one,
    /// otherwise an instance created with its constructor dependencies from the container.
    /// </summary>
    /// <typeparam name="TAuth">The auth source type.</typeparam>
    /// <param name="builder">The transport.</param>
    /// <returns>The builder.</returns>
    public static IWebSocketTransportBuilder WithAuth<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TAuth>(this IWebSocketTransportBuilder builder)
        where TAuth : class, IAuthSource =>
        builder.WithAuth(FromContainer<TAuth>());

    /// <summary>Uses the auth source <paramref name="factory"/> returns (called once, when the connector is built; the source itself is called on every attempt).</summary>
    /// <param name="builder">The transport.</param>
    /// <param name="factory">Creates the source.</param>
    /// <returns>The builder.</returns>
    /// <remarks>Without this, a keyed <see cref="IAuthSource"/> registered under the transport's name is used, else none.</remarks>
    public static IWebSocketTransportBuilder WithAuth(this IWebSocketTransportBuilder builder, Func<IServiceProvider, IAuthSource> factory) =>
        builder.Use(factory, static (r, f) => r.Auth = f);

    /// <summary>Uses <typeparamref name="TClassifier"/> as the failure classifier (the registered service, or one created from the container).</summary>
    /// <typeparam name="TClassifier">The classifier type.</typeparam>
    /// <param name="builder">The transport.</param>
    /// <returns>The builder.</returns>
    public static IWebSocketTransportBuilder WithClassifier<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TClassifier>(this IWebSocketTransportBuilder builder)
        where TClassifier : class, IFailureClassifier =>
        builder.WithClassifier(FromContainer<TClassifier>());

    /// <summary>Uses the failure classifier <paramref name="factory"/> returns.</summary>
    /// <param name="builder">The transport.</param>
    /// <param name="factory">Creates the classifier.</param>
    /// <returns>The builder.</returns>
    /// <remarks>Without this, a keyed <see cref="IFailureClassifier"/> registered under the transport's name is used, else <see cref="DefaultFailureClassifier"/>.</remarks>
    public static IWebSocketTransportBuilder WithClassifier(this IWebSocketTransportBuilder builder, Func<IServiceProvider, IFailureClassifier> factory) =>
        builder.Use(factory, static (r, f) => r.Classifier = f);

    /// <summary>
    /// Uses <typeparamref name="TInitializer"/> as the session initializer (the registered service, or one
    /// created from the container): run on every new socket before queued data and the up-edge.
    /// </summary>
    /// <typeparam name="TInitializer">The initializer type.</typeparam>
    /// <param name="builder">The transport.</param>
    /// <returns>The builder.</returns>
    public static IWebSocketTransportBuilder WithSessionInitializer<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TInitializer>(this IWebSocketTransportBuilder builder)
        where TInitializer : class, ISessionInitializer =>
        builder.WithSessionInitializer(FromContainer<TInitializer>());

    /// <summary>Uses the session initializer <paramref name="factory"/> returns (called once, when the connector is built).</summary>
    /// <param name="builder">The transport.</param>
    /// <param name="factory">Creates the initializer.</param>
    /// <returns>The builder.</returns>
    /// <remarks>Without this, a keyed <see cref="ISessionInitializer"/> registered under the transport's name is used, else none.</remarks>
    public static IWebSocketTransportBuilder WithSessionInitializer(this IWebSocketTransportBuilder builder, Func<IServiceProvider, ISessionInitializer> factory) =>
        builder.Use(factory, static (r, f) => r.Initializer = f);

    /// <summary>Uses <typeparamref name="TProvider"/> to choose each attempt's endpoint (the registered service, or one created from the container).</summary>
    /// <typeparam name="TProvider">The provider type.</typeparam>
    /// <param name="builder">The transport.</param>
    /// <returns>The builder.</returns>
    public static IWebSocketTransportBuilder WithEndpointProvider<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TProvider>(this IWebSocketTransportBuilder builder)
        where TProvider : class, IEndpointProvider =>
        builder.WithEndpointProvider(FromContainer<TProvider>());

    /// <summary>Uses the endpoint provider <paramref name="factory"/> returns.</summary>
    /// <param name="builder">The transport.</param>
    /// <param name="factory">Creates the provider.</param>
    /// <returns>The builder.</returns>
    /// <remarks>Without this, a keyed <see cref="IEndpointProvider"/> registered under the transport's name is used, else the configured URI and failover list.</remarks>
    public static IWebSocketTransportBuilder WithEndpointProvider(this IWebSocketTransportBuilder builder, Func<IServiceProvider, IEndpointProvider> factory) =>
        builder.Use(factory, static (r, f) => r.Endpoints = f);

    /// <summary>
    /// Configures the named HttpClient whose handler pipeline carries the handshake (proxy, TLS,
    /// delegating handlers): <c>http => http.ConfigurePrimaryHttpMessageHandler(...).AddHttpMessageHandler(...)</c>.
    /// Its name is <c>"Transport.WebSockets." + Name</c> unless <see cref="UseHttpClient"/> chose another.
    /// </summary>
    /// <param name="builder">The transport.</param>
    /// <param name="configure">Receives the HttpClient builder.</param>
    /// <returns>The builder.</returns>
    public static IWebSocketTransportBuilder ConfigureHttpClient(this IWebSocketTransportBuilder builder, Action<IHttpClientBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        configure(builder.Services.AddHttpClient(TransportRegistration.DefaultHttpClientName(builder.Name)));
        return builder;
    }

    /// <summary>Carries the handshake through the handlers of an HttpClient registered elsewhere (<c>services.AddHttpClient(httpClientName)</c>).</summary>
    /// <param name="builder">The transport.</param>
    /// <param name="httpClientName">The HttpClient's name.</param>
    /// <returns>The builder.</returns>
    public static IWebSocketTransportBuilder UseHttpClient(this IWebSocketTransportBuilder builder, string httpClientName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(httpClientName);
        return builder.Register(r => r.HttpClientName = httpClientName);
    }

    /// <summary>
    /// Uses the platform's ClientWebSocket leaf (as <c>"Leaf": "ClientWebSocket"</c> in configuration
    /// does) and edits its settings (deflate, buffer size, socket escape hatch). This call wins over a
    /// bound <c>Leaf</c> value; registering both this and <see cref="UsePipelinesLeaf"/> fails at build
    /// naming <c>Leaf</c>.
    /// </summary>
    /// <param name="builder">The transport.</param>
    /// <param name="configure">The edit; the HttpMessageInvoker is already set from the named HttpClient.</param>
    /// <returns>The builder.</returns>
    public static IWebSocketTransportBuilder ConfigureClientWebSocket(this IWebSocketTransportBuilder builder, Action<ClientWebSocketConnectorOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return builder.Register(r => r.ConfigureClientWebSocket.Add(configure));
    }

    /// <summary>
    /// Uses the System.IO.Pipelines leaf (as <c>"Leaf": "Pipelines"</c> in configuration does) and edits
    /// its settings (deflate, buffer size, request escape hatch). This call wins over a bound
    /// <c>Leaf</c> value; without it, configuration alone can choose that leaf with default settings.
    /// </summary>
    /// <param name="builder">The transport.</param>
    /// <param name="configure">The edit; the HttpMessageInvoker is already set from the named HttpClient. Null: default settings.</param>
    /// <returns>The builder.</returns>
    public static IWebSocketTransportBuilder UsePipelinesLeaf(this IWebSocketTransportBuilder builder, Action<PipeWebSocketConnectorOptions>? configure = null)
    {
        return builder.Register(r => r.ConfigurePipelinesLeaf.Add(configure ?? (static _ => { })));
    }

    /// <summary>
    /// Escape hatch: edits the <see cref="WebSocketTransportBuilder"/> last, after everything the
    /// container supplied (for example <c>UseLeaf</c> or <c>WithSpawner</c>).
    /// </summary>
    /// <param name="builder">The transport.</param>
    /// <param name="configure">The edit.</param>
    /// <returns>The builder.</returns>
    public static IWebSocketTransportBuilder ConfigureTransport(this IWebSocketTransportBuilder builder, Action<IServiceProvider, WebSocketTransportBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return builder.Register(r => r.ConfigureTransport.Add(configure));
    }

    // The one implementation behind the four generic overloads: the registered service, else an
    // instance built from its public constructor (kept by the trimmer through the annotation).
    private static Func<IServiceProvider, TService> FromContainer<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TService>()
        where TService : class =>
        static sp => ActivatorUtilities.GetServiceOrCreateInstance<TService>(sp);

    // The one implementation behind the four factory overloads: checks both arguments and records
    // the factory in the transport's named registration.
    private static IWebSocketTransportBuilder Use<TService>(
        this IWebSocketTransportBuilder builder,
        Func<IServiceProvider, TService> factory,
        Action<TransportRegistration, Func<IServiceProvider, TService>> assign)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(factory);
        return builder.Register(r => assign(r, factory));
    }

    private static IWebSocketTransportBuilder Register(this IWebSocketTransportBuilder builder, Action<TransportRegistration> change)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.Configure(builder.Name, change);
        return builder;
    }
}
