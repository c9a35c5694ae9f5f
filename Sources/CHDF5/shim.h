// The HDF5 C library, plus static inline wrappers for the identifiers that are C macros.
//
// Swift imports only simple constant macros. HDF5's type ids are macros that call H5open() and read a
// global (`#define H5T_NATIVE_FLOAT (H5OPEN H5T_NATIVE_FLOAT_g)`), and property-list defaults are casts,
// so Swift cannot see them; each wrapper below returns the value its macro names.
#ifndef SCALPEL_CHDF5_SHIM_H
#define SCALPEL_CHDF5_SHIM_H

#include <hdf5.h>

// MARK: - Native datatypes
static inline hid_t chdf5_native_float(void)  { return H5T_NATIVE_FLOAT; }
static inline hid_t chdf5_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t chdf5_native_int8(void)   { return H5T_NATIVE_INT8; }
static inline hid_t chdf5_native_uint8(void)  { return H5T_NATIVE_UINT8; }
static inline hid_t chdf5_native_int32(void)  { return H5T_NATIVE_INT32; }
static inline hid_t chdf5_native_int64(void)  { return H5T_NATIVE_INT64; }
static inline hid_t chdf5_c_s1(void)          { return H5T_C_S1; }

// MARK: - Property lists and selections
static inline hid_t chdf5_p_default(void)        { return H5P_DEFAULT; }
static inline hid_t chdf5_p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t chdf5_p_file_access(void)    { return H5P_FILE_ACCESS; }
static inline hid_t chdf5_p_group_create(void)   { return H5P_GROUP_CREATE; }
static inline hid_t chdf5_s_all(void)            { return H5S_ALL; }
static inline hid_t chdf5_e_default(void)        { return H5E_DEFAULT; }

// MARK: - File access flags
static inline unsigned chdf5_f_acc_trunc(void)  { return H5F_ACC_TRUNC; }
static inline unsigned chdf5_f_acc_excl(void)   { return H5F_ACC_EXCL; }
static inline unsigned chdf5_f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned chdf5_f_acc_rdwr(void)   { return H5F_ACC_RDWR; }

// MARK: - Sizes
static inline hsize_t chdf5_s_unlimited(void) { return H5S_UNLIMITED; }
static inline size_t  chdf5_variable(void)    { return H5T_VARIABLE; }

// Switches off the library's automatic error-stack printing, so users never see a raw dump;
// failures surface as Swift errors that name the path and the operation instead.
static inline herr_t chdf5_silence_errors(void) { return H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

// The kind of object at `name` below `loc`: 0 group, 1 dataset, 2 named datatype, −1 none or error.
// H5Oget_info_by_name changed signature across 1.10/1.12; this hides the difference.
static inline int chdf5_object_type(hid_t loc, const char *name) {
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t info;
    if (H5Oget_info_by_name3(loc, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return -1;
#else
    H5O_info_t info;
    if (H5Oget_info_by_name2(loc, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return -1;
#endif
    return (int)info.type;
}

#endif
