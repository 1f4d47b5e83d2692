namespace InternVit.SK.Onnx.Native;

/// <summary>
/// The slots of ONNX Runtime's <c>OrtApi</c> function table that this library calls, read by index from the
/// table returned by <c>OrtGetApiBase()-&gt;GetApi(version)</c>.
/// </summary>
/// <remarks>
/// Slot numbers are the member order of <c>struct OrtApi</c> in
/// <c>include/onnxruntime/core/session/onnxruntime_c_api.h</c> (append-only across releases; checked against the
/// 1.20 and 1.29 headers). Each pointer carries its C signature in a comment. Every <c>OrtStatus*</c> that a slot
/// returns goes through <see cref="OrtStatus.ThrowIfFailed"/>; slots that return it are typed
/// <see cref="OrtStatusPtr"/> (a test checks that no call site discards one).
/// </remarks>
internal sealed unsafe class OrtApi
{
    /// <summary>The API version we ask for: 1.20, the oldest release that has every slot below.</summary>
    public const uint RequestedVersion = 20;

    public OrtApi(nint* table)
    {
        GetErrorCode = (delegate* unmanaged<nint, OrtErrorCode>)table[1];
        GetErrorMessage = (delegate* unmanaged<nint, byte*>)table[2];
        CreateEnvWithCustomLogger = (delegate* unmanaged<delegate* unmanaged<nint, int, byte*, byte*, byte*, byte*, void>, nint, int, byte*, nint*, OrtStatusPtr>)table[4];
        CreateSession = (delegate* unmanaged<nint, byte*, nint, nint*, OrtStatusPtr>)table[7];
        Run = (delegate* unmanaged<nint, nint, byte**, nint*, nuint, byte**, nuint, nint*, OrtStatusPtr>)table[9];
        CreateSessionOptions = (delegate* unmanaged<nint*, OrtStatusPtr>)table[10];
        SetOptimizedModelFilePath = (delegate* unmanaged<nint, byte*, OrtStatusPtr>)table[11];
        EnableProfiling = (delegate* unmanaged<nint, byte*, OrtStatusPtr>)table[14];
        SetSessionLogSeverityLevel = (delegate* unmanaged<nint, int, OrtStatusPtr>)table[22];
        SetSessionGraphOptimizationLevel = (delegate* unmanaged<nint, int, OrtStatusPtr>)table[23];
        SetIntraOpNumThreads = (delegate* unmanaged<nint, int, OrtStatusPtr>)table[24];
        SetInterOpNumThreads = (delegate* unmanaged<nint, int, OrtStatusPtr>)table[25];
        SessionGetInputCount = (delegate* unmanaged<nint, nuint*, OrtStatusPtr>)table[30];
        SessionGetOutputCount = (delegate* unmanaged<nint, nuint*, OrtStatusPtr>)table[31];
        SessionGetInputTypeInfo = (delegate* unmanaged<nint, nuint, nint*, OrtStatusPtr>)table[33];
        SessionGetOutputTypeInfo = (delegate* unmanaged<nint, nuint, nint*, OrtStatusPtr>)table[34];
        SessionGetInputName = (delegate* unmanaged<nint, nuint, nint, byte**, OrtStatusPtr>)table[36];
        SessionGetOutputName = (delegate* unmanaged<nint, nuint, nint, byte**, OrtStatusPtr>)table[37];
        CreateRunOptions = (delegate* unmanaged<nint*, OrtStatusPtr>)table[39];
        RunOptionsSetTerminate = (delegate* unmanaged<nint, OrtStatusPtr>)table[46];
        CreateTensorAsOrtValue = (delegate* unmanaged<nint, long*, nuint, OrtElementType, nint*, OrtStatusPtr>)table[48];
        CreateTensorWithDataAsOrtValue = (delegate* unmanaged<nint, void*, nuint, long*, nuint, OrtElementType, nint*, OrtStatusPtr>)table[49];
        GetTensorMutableData = (delegate* unmanaged<nint, void**, OrtStatusPtr>)table[51];
        CastTypeInfoToTensorInfo = (delegate* unmanaged<nint, nint*, OrtStatusPtr>)table[55];
        GetOnnxTypeFromTypeInfo = (delegate* unmanaged<nint, int*, OrtStatusPtr>)table[56];
        GetTensorElementType = (delegate* unmanaged<nint, OrtElementType*, OrtStatusPtr>)table[60];
        GetDimensionsCount = (delegate* unmanaged<nint, nuint*, OrtStatusPtr>)table[61];
        GetDimensions = (delegate* unmanaged<nint, long*, nuint, OrtStatusPtr>)table[62];
        GetSymbolicDimensions = (delegate* unmanaged<nint, byte**, nuint, OrtStatusPtr>)table[63];
        GetTensorTypeAndShape = (delegate* unmanaged<nint, nint*, OrtStatusPtr>)table[65];
        GetValueType = (delegate* unmanaged<nint, int*, OrtStatusPtr>)table[67];
        CreateCpuMemoryInfo = (delegate* unmanaged<int, int, nint*, OrtStatusPtr>)table[69];
        AllocatorFree = (delegate* unmanaged<nint, void*, OrtStatusPtr>)table[76];
        GetAllocatorWithDefaultOptions = (delegate* unmanaged<nint*, OrtStatusPtr>)table[78];
        ReleaseEnv = (delegate* unmanaged<nint, void>)table[92];
        ReleaseStatus = (delegate* unmanaged<nint, void>)table[93];
        ReleaseMemoryInfo = (delegate* unmanaged<nint, void>)table[94];
        ReleaseSession = (delegate* unmanaged<nint, void>)table[95];
        ReleaseValue = (delegate* unmanaged<nint, void>)table[96];
        ReleaseRunOptions = (delegate* unmanaged<nint, void>)table[97];
        ReleaseTypeInfo = (delegate* unmanaged<nint, void>)table[98];
        ReleaseTensorTypeAndShapeInfo = (delegate* unmanaged<nint, void>)table[99];
        ReleaseSessionOptions = (delegate* unmanaged<nint, void>)table[100];
        SessionEndProfiling = (delegate* unmanaged<nint, nint, byte**, OrtStatusPtr>)table[110];
        GetAvailableProviders = (delegate* unmanaged<byte***, int*, OrtStatusPtr>)table[125];
        ReleaseAvailableProviders = (delegate* unmanaged<byte**, int, OrtStatusPtr>)table[126];
        AddSessionConfigEntry = (delegate* unmanaged<nint, byte*, byte*, OrtStatusPtr>)table[130];
        AddRunConfigEntry = (delegate* unmanaged<nint, byte*, byte*, OrtStatusPtr>)table[165];
        SessionOptionsAppendExecutionProvider_CUDA_V2 = (delegate* unmanaged<nint, nint, OrtStatusPtr>)table[204];
        CreateCUDAProviderOptions = (delegate* unmanaged<nint*, OrtStatusPtr>)table[205];
        UpdateCUDAProviderOptions = (delegate* unmanaged<nint, byte**, byte**, nuint, OrtStatusPtr>)table[206];
        ReleaseCUDAProviderOptions = (delegate* unmanaged<nint, void>)table[208];
        GetBuildInfoString = (delegate* unmanaged<byte*>)table[254];
    }

    // [1] OrtErrorCode GetErrorCode(const OrtStatus* status)
    public readonly delegate* unmanaged<nint, OrtErrorCode> GetErrorCode;
    // [2] const char* GetErrorMessage(const OrtStatus* status)
    public readonly delegate* unmanaged<nint, byte*> GetErrorMessage;
    // [4] OrtStatus* CreateEnvWithCustomLogger(OrtLoggingFunction logging_function, void* logger_param,
    //     OrtLoggingLevel log_severity_level, const char* logid, OrtEnv** out)
    //     OrtLoggingFunction = void(void* param, OrtLoggingLevel severity, const char* category, const char* logid,
    //     const char* code_location, const char* message)
    public readonly delegate* unmanaged<delegate* unmanaged<nint, int, byte*, byte*, byte*, byte*, void>, nint, int, byte*, nint*, OrtStatusPtr> CreateEnvWithCustomLogger;
    // [7] OrtStatus* CreateSession(const OrtEnv* env, const ORTCHAR_T* model_path, const OrtSessionOptions* options, OrtSession** out)
    public readonly delegate* unmanaged<nint, byte*, nint, nint*, OrtStatusPtr> CreateSession;
    // [9] OrtStatus* Run(OrtSession* session, const OrtRunOptions* run_options, const char* const* input_names,
    //     const OrtValue* const* inputs, size_t input_len, const char* const* output_names, size_t output_names_len, OrtValue** outputs)
    public readonly delegate* unmanaged<nint, nint, byte**, nint*, nuint, byte**, nuint, nint*, OrtStatusPtr> Run;
    // [10] OrtStatus* CreateSessionOptions(OrtSessionOptions** options)
    public readonly delegate* unmanaged<nint*, OrtStatusPtr> CreateSessionOptions;
    // [11] OrtStatus* SetOptimizedModelFilePath(OrtSessionOptions* options, const ORTCHAR_T* optimized_model_filepath)
    public readonly delegate* unmanaged<nint, byte*, OrtStatusPtr> SetOptimizedModelFilePath;
    // [14] OrtStatus* EnableProfiling(OrtSessionOptions* options, const ORTCHAR_T* profile_file_prefix)
    public readonly delegate* unmanaged<nint, byte*, OrtStatusPtr> EnableProfiling;
    // [22] OrtStatus* SetSessionLogSeverityLevel(OrtSessionOptions* options, int session_log_severity_level)
    public readonly delegate* unmanaged<nint, int, OrtStatusPtr> SetSessionLogSeverityLevel;
    // [23] OrtStatus* SetSessionGraphOptimizationLevel(OrtSessionOptions* options, GraphOptimizationLevel level)
    public readonly delegate* unmanaged<nint, int, OrtStatusPtr> SetSessionGraphOptimizationLevel;
    // [24] OrtStatus* SetIntraOpNumThreads(OrtSessionOptions* options, int intra_op_num_threads)
    public readonly delegate* unmanaged<nint, int, OrtStatusPtr> SetIntraOpNumThreads;
    // [25] OrtStatus* SetInterOpNumThreads(OrtSessionOptions* options, int inter_op_num_threads)
    public readonly delegate* unmanaged<nint, int, OrtStatusPtr> SetInterOpNumThreads;
    // [30] OrtStatus* SessionGetInputCount(const OrtSession* session, size_t* out)
    public readonly delegate* unmanaged<nint, nuint*, OrtStatusPtr> SessionGetInputCount;
    // [31] OrtStatus* SessionGetOutputCount(const OrtSession* session, size_t* out)
    public readonly delegate* unmanaged<nint, nuint*, OrtStatusPtr> SessionGetOutputCount;
    // [33] OrtStatus* SessionGetInputTypeInfo(const OrtSession* session, size_t index, OrtTypeInfo** type_info)
    public readonly delegate* unmanaged<nint, nuint, nint*, OrtStatusPtr> SessionGetInputTypeInfo;
    // [34] OrtStatus* SessionGetOutputTypeInfo(const OrtSession* session, size_t index, OrtTypeInfo** type_info)
    public readonly delegate* unmanaged<nint, nuint, nint*, OrtStatusPtr> SessionGetOutputTypeInfo;
    // [36] OrtStatus* SessionGetInputName(const OrtSession* session, size_t index, OrtAllocator* allocator, char** value)
    public readonly delegate* unmanaged<nint, nuint, nint, byte**, OrtStatusPtr> SessionGetInputName;
    // [37] OrtStatus* SessionGetOutputName(const OrtSession* session, size_t index, OrtAllocator* allocator, char** value)
    public readonly delegate* unmanaged<nint, nuint, nint, byte**, OrtStatusPtr> SessionGetOutputName;
    // [39] OrtStatus* CreateRunOptions(OrtRunOptions** out)
    public readonly delegate* unmanaged<nint*, OrtStatusPtr> CreateRunOptions;
    // [46] OrtStatus* RunOptionsSetTerminate(OrtRunOptions* options)
    public readonly delegate* unmanaged<nint, OrtStatusPtr> RunOptionsSetTerminate;
    // [48] OrtStatus* CreateTensorAsOrtValue(OrtAllocator* allocator, const int64_t* shape, size_t shape_len,
    //      ONNXTensorElementDataType type, OrtValue** out)
    public readonly delegate* unmanaged<nint, long*, nuint, OrtElementType, nint*, OrtStatusPtr> CreateTensorAsOrtValue;
    // [49] OrtStatus* CreateTensorWithDataAsOrtValue(const OrtMemoryInfo* info, void* p_data, size_t p_data_len,
    //      const int64_t* shape, size_t shape_len, ONNXTensorElementDataType type, OrtValue** out)
    public readonly delegate* unmanaged<nint, void*, nuint, long*, nuint, OrtElementType, nint*, OrtStatusPtr> CreateTensorWithDataAsOrtValue;
    // [51] OrtStatus* GetTensorMutableData(OrtValue* value, void** out)
    public readonly delegate* unmanaged<nint, void**, OrtStatusPtr> GetTensorMutableData;
    // [55] OrtStatus* CastTypeInfoToTensorInfo(const OrtTypeInfo* type_info, const OrtTensorTypeAndShapeInfo** out)  (not owned; null if not a tensor)
    public readonly delegate* unmanaged<nint, nint*, OrtStatusPtr> CastTypeInfoToTensorInfo;
    // [56] OrtStatus* GetOnnxTypeFromTypeInfo(const OrtTypeInfo* type_info, enum ONNXType* out)
    public readonly delegate* unmanaged<nint, int*, OrtStatusPtr> GetOnnxTypeFromTypeInfo;
    // [60] OrtStatus* GetTensorElementType(const OrtTensorTypeAndShapeInfo* info, enum ONNXTensorElementDataType* out)
    public readonly delegate* unmanaged<nint, OrtElementType*, OrtStatusPtr> GetTensorElementType;
    // [61] OrtStatus* GetDimensionsCount(const OrtTensorTypeAndShapeInfo* info, size_t* out)
    public readonly delegate* unmanaged<nint, nuint*, OrtStatusPtr> GetDimensionsCount;
    // [62] OrtStatus* GetDimensions(const OrtTensorTypeAndShapeInfo* info, int64_t* dim_values, size_t dim_values_length)
    public readonly delegate* unmanaged<nint, long*, nuint, OrtStatusPtr> GetDimensions;
    // [63] OrtStatus* GetSymbolicDimensions(const OrtTensorTypeAndShapeInfo* info, const char* dim_params[], size_t dim_params_length)
    public readonly delegate* unmanaged<nint, byte**, nuint, OrtStatusPtr> GetSymbolicDimensions;
    // [65] OrtStatus* GetTensorTypeAndShape(const OrtValue* value, OrtTensorTypeAndShapeInfo** out)
    public readonly delegate* unmanaged<nint, nint*, OrtStatusPtr> GetTensorTypeAndShape;
    // [67] OrtStatus* GetValueType(const OrtValue* value, enum ONNXType* out)
    public readonly delegate* unmanaged<nint, int*, OrtStatusPtr> GetValueType;
    // [69] OrtStatus* CreateCpuMemoryInfo(enum OrtAllocatorType type, enum OrtMemType mem_type, OrtMemoryInfo** out)
    public readonly delegate* unmanaged<int, int, nint*, OrtStatusPtr> CreateCpuMemoryInfo;
    // [76] OrtStatus* AllocatorFree(OrtAllocator* ort_allocator, void* p)
    public readonly delegate* unmanaged<nint, void*, OrtStatusPtr> AllocatorFree;
    // [78] OrtStatus* GetAllocatorWithDefaultOptions(OrtAllocator** out)  (not owned)
    public readonly delegate* unmanaged<nint*, OrtStatusPtr> GetAllocatorWithDefaultOptions;
    // [92] void ReleaseEnv(OrtEnv* input)
    public readonly delegate* unmanaged<nint, void> ReleaseEnv;
    // [93] void ReleaseStatus(OrtStatus* input)
    public readonly delegate* unmanaged<nint, void> ReleaseStatus;
    // [94] void ReleaseMemoryInfo(OrtMemoryInfo* input)
    public readonly delegate* unmanaged<nint, void> ReleaseMemoryInfo;
    // [95] void ReleaseSession(OrtSession* input)
    public readonly delegate* unmanaged<nint, void> ReleaseSession;
    // [96] void ReleaseValue(OrtValue* input)
    public readonly delegate* unmanaged<nint, void> ReleaseValue;
    // [97] void ReleaseRunOptions(OrtRunOptions* input)
    public readonly delegate* unmanaged<nint, void> ReleaseRunOptions;
    // [98] void ReleaseTypeInfo(OrtTypeInfo* input)
    public readonly delegate* unmanaged<nint, void> ReleaseTypeInfo;
    // [99] void ReleaseTensorTypeAndShapeInfo(OrtTensorTypeAndShapeInfo* input)
    public readonly delegate* unmanaged<nint, void> ReleaseTensorTypeAndShapeInfo;
    // [100] void ReleaseSessionOptions(OrtSessionOptions* input)
    public readonly delegate* unmanaged<nint, void> ReleaseSessionOptions;
    // [110] OrtStatus* SessionEndProfiling(OrtSession* session, OrtAllocator* allocator, char** out)
    public readonly delegate* unmanaged<nint, nint, byte**, OrtStatusPtr> SessionEndProfiling;
    // [125] OrtStatus* GetAvailableProviders(char*** out_ptr, int* provider_length)
    public readonly delegate* unmanaged<byte***, int*, OrtStatusPtr> GetAvailableProviders;
    // [126] OrtStatus* ReleaseAvailableProviders(char** ptr, int providers_length)
    public readonly delegate* unmanaged<byte**, int, OrtStatusPtr> ReleaseAvailableProviders;
    // [130] OrtStatus* AddSessionConfigEntry(OrtSessionOptions* options, const char* config_key, const char* config_value)
    public readonly delegate* unmanaged<nint, byte*, byte*, OrtStatusPtr> AddSessionConfigEntry;
    // [165] OrtStatus* AddRunConfigEntry(OrtRunOptions* options, const char* config_key, const char* config_value)
    public readonly delegate* unmanaged<nint, byte*, byte*, OrtStatusPtr> AddRunConfigEntry;
    // [204] OrtStatus* SessionOptionsAppendExecutionProvider_CUDA_V2(OrtSessionOptions* options, const OrtCUDAProviderOptionsV2* cuda_options)
    public readonly delegate* unmanaged<nint, nint, OrtStatusPtr> SessionOptionsAppendExecutionProvider_CUDA_V2;
    // [205] OrtStatus* CreateCUDAProviderOptions(OrtCUDAProviderOptionsV2** out)
    public readonly delegate* unmanaged<nint*, OrtStatusPtr> CreateCUDAProviderOptions;
    // [206] OrtStatus* UpdateCUDAProviderOptions(OrtCUDAProviderOptionsV2* cuda_options, const char* const* keys,
    //       const char* const* values, size_t num_keys)
    public readonly delegate* unmanaged<nint, byte**, byte**, nuint, OrtStatusPtr> UpdateCUDAProviderOptions;
    // [208] void ReleaseCUDAProviderOptions(OrtCUDAProviderOptionsV2* input)
    public readonly delegate* unmanaged<nint, void> ReleaseCUDAProviderOptions;
    // [254] const char* GetBuildInfoString(void)
    public readonly delegate* unmanaged<byte*> GetBuildInfoString;
}

/// <summary>An <c>OrtStatus*</c> as a slot returns it: null for success. Consumed only by <see cref="OrtStatus.ThrowIfFailed"/>.</summary>
internal readonly struct OrtStatusPtr
{
    public readonly nint Value;
}
